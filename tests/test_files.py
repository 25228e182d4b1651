from __future__ import annotations

from ideogram_mock.core.files import Files


def test_files_urls_round_trip_and_are_signed() -> None:
    files = Files("http://127.0.0.1:8000", "secret", "png")
    url = files.url("a" * 32, 1, expires_ms=2_000_000)
    ref = files.parse(url)
    assert ref is not None
    assert (ref.task_id, ref.index, ref.ext, ref.expires) == ("a" * 32, 1, "png", 2000)
    assert files.signature_ok(ref)
    assert url.endswith(".png")  # every link ends in its extension, as live ones do
    forged = files.parse(url.replace("/2000/", "/9999/"))
    assert forged is not None
    assert not files.signature_ok(forged)


def test_files_parse_refuses_other_hosts_and_shapes() -> None:
    files = Files("http://127.0.0.1:8000/base", "s", "webp")
    assert files.parse("https://example.com/files/a/1/s/0.webp") is None
    assert files.parse("http://127.0.0.1:8000/files/a/1/s/0.webp") is None
    assert files.parse("http://127.0.0.1:8000/base/files/a/1/s/b/0.webp") is None
    assert files.parse("http://127.0.0.1:8000/base/files/a/1/s/x.webp") is None
    assert files.parse("http://127.0.0.1:8000/base/files/a/0.webp") is None
    assert files.parse("http://127.0.0.1:8000/base/files/a/1/s/0.webp") is not None


def test_files_another_secret_gives_another_signature() -> None:
    one = Files("http://h", "one", "png").url("t", 0, 1000)
    two = Files("http://h", "two", "png").url("t", 0, 1000)
    assert one != two
