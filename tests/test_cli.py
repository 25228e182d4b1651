"""The command line as a user meets it: flags without a command, --version, defaults in the
help, errors that name the flag, variable or config key, a TOML config, URLs for IPv6 and
unspecified addresses, /health and the specs as JSON."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from ideogram_mock import __version__
from ideogram_mock.server.cli import main
from ideogram_mock.settings import Settings, field_of, from_env, from_toml
from ideogram_mock.testing.live import running_server

CLI = [sys.executable, "-m", "ideogram_mock"]


def test_cli_prints_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"ideogram-mock {__version__}"


def test_cli_flags_without_a_command_are_serves_and_bad_values_name_their_source() -> None:
    bad_flag = subprocess.run([*CLI, "--port", "nine"], capture_output=True, text=True, timeout=30)
    assert bad_flag.returncode == 2
    assert "argument --port: invalid int value: 'nine'" in bad_flag.stderr
    bad_env = subprocess.run(
        [*CLI, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"IDEOGRAM_MOCK_TIME_SCALE": "fast", "PATH": ""},
    )
    assert bad_env.returncode == 2
    assert "IDEOGRAM_MOCK_TIME_SCALE: 'fast' is not a number" in bad_env.stderr


def test_cli_help_shows_each_settings_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("(default 127.0.0.1)", "(default 20/10)", "(default 2)", "(default 86400.0)"):
        assert shown in text


def test_env_variables_follow_flag_names_as_well_as_field_names() -> None:
    assert from_env({"IDEOGRAM_MOCK_RESULT_TTL": "60"}).result_ttl_s == 60.0
    assert from_env({"IDEOGRAM_MOCK_RESULT_TTL_S": "61"}).result_ttl_s == 61.0
    assert from_env({"IDEOGRAM_MOCK_API_KEY": "a,b"}).api_keys == ("a", "b")
    assert field_of("--callback-timeout".removeprefix("--")) == "callback_timeout_s"


def test_toml_config_sets_everything_and_flags_and_env_win(tmp_path: Path) -> None:
    config = tmp_path / "fake.toml"
    config.write_text(
        '[serve]\ntime-scale = 0.25\napi-key = ["k1", "k2"]\nrate_limit = "5/10"\n'
        'clock = "manual"\nfetch-inputs = true\nport = 9100\n'
    )
    values = from_toml(str(config))
    settings = from_env({"IDEOGRAM_MOCK_PORT": "9200"}, values, clock="real")
    assert (settings.time_scale, settings.api_keys, str(settings.rate_limit)) == (
        0.25,
        ("k1", "k2"),
        "5/10",
    )
    assert settings.fetch_inputs is True
    assert (settings.port, settings.clock) == (9200, "real")  # env over config, flag over env
    config.write_text("colour = 'blue'\n")
    with pytest.raises(ValueError, match="unknown setting 'colour'; settings: "):
        from_toml(str(config))
    config.write_text("credits = 'many'\n")
    with pytest.raises(ValueError, match="credits: 'many' is not a whole number"):
        from_toml(str(config))


def test_urls_bracket_ipv6_and_never_hand_out_an_unspecified_address() -> None:
    assert Settings(host="::1", port=8015).base_url == "http://[::1]:8015"
    assert Settings(host="0.0.0.0", port=8015).base_url == "http://127.0.0.1:8015"
    assert Settings(host="::", port=8015).base_url == "http://[::1]:8015"
    public = Settings(host="0.0.0.0", public_url="https://fake.example/")
    assert public.base_url == "https://fake.example"


def test_health_and_the_specs_as_json_are_served_even_without_the_control_api() -> None:
    with running_server(Settings(port=0, admin=False)) as server:
        health = httpx.get(f"{server.url}/health").json()
        assert health["status"] == "ok"
        assert health["providers"] == ["kie", "segmind", "scenario"]
        assert health["version"] == __version__
        for name in ("kie", "segmind", "scenario", "mock-control"):
            document = httpx.get(f"{server.url}/openapi/{name}.json").json()
            validate(document)
            assert document["servers"] == [{"url": server.url, "description": "this fake"}]
        missing = httpx.get(f"{server.url}/openapi/nothing.json")
        assert missing.status_code == 404
        assert "kie.json" in missing.json()["error"]
        assert httpx.get(f"{server.url}/_mock/clock").status_code == 404


def _serve(*flags: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*CLI, "--port", "0", "--clock", "manual", *flags],
        cwd=tempfile.mkdtemp(prefix="ideogram-mock-cli-"),  # serve keeps its state there
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    base = first.split()[-1].removesuffix("/api/v1/jobs/createTask")
    while "clock manual" not in proc.stdout.readline():
        pass
    return proc, base


def _wait_up(base: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(f"{base}/health", timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_serve_logs_one_json_line_per_request_with_a_key_hash_never_the_key() -> None:
    proc, base = _serve()
    try:
        _wait_up(base)
        httpx.get(f"{base}/api/v1/chat/credit", headers={"Authorization": "Bearer secret-key"})
        httpx.get(f"{base}/v1/get-user-credits")
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    kie, segmind = lines[-2], lines[-1]
    assert kie["event"] == "request"
    assert (kie["provider"], kie["operation"], kie["status"], kie["code"]) == (
        "kie", "getCredit", 200, 200,
    )  # fmt: skip
    assert kie["key"] == hashlib.sha256(b"secret-key").hexdigest()[:12]
    assert "secret-key" not in out
    assert kie["latencyMs"] >= 0
    assert (segmind["provider"], segmind["status"], segmind["key"]) == ("segmind", 401, None)


def test_serve_logs_text_or_nothing_when_asked() -> None:
    for flags, expect in ((("--log-format", "text"), "request provider=kie"), (("--quiet",), None)):
        proc, base = _serve(*flags)
        try:
            _wait_up(base)
            httpx.get(f"{base}/api/v1/chat/credit", headers={"Authorization": "Bearer k"})
            proc.terminate()
            out, _ = proc.communicate(timeout=10)
        finally:
            proc.kill()
        if expect is None:
            assert "request" not in out.split("clock manual", 1)[-1]
        else:
            assert expect in out
            assert "operation=getCredit" in out


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_lines_made_from_a_kept_head_are_the_lines_emit_writes(fmt: str) -> None:
    import io

    from ideogram_mock.server.logs import Sink

    fixed = {"provider": "kie", "operation": "recordInfo", "method": "GET"}
    cases: list[dict[str, Any]] = [
        {"path": "/a", "key": None, "status": 200, "fault": "f:x", "latencyMs": 0.12},
        {"path": 'ü "quoted"', "taskId": None},
        {},
    ]
    for fields in cases:
        whole, split = Sink(io.BytesIO(), fmt), Sink(io.BytesIO(), fmt)
        whole.emit("request", {**fixed, **fields})
        split.emit_after(split.head("request", fixed), fields)
        whole.flush()
        split.flush()
        line = whole.stream.getvalue()  # type: ignore[attr-defined]
        assert line.endswith(b"\n") and split.stream.getvalue() == line  # type: ignore[attr-defined]
        if fmt == "json":
            assert json.loads(line) == {"event": "request", **fixed, **fields}
