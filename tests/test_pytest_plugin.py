"""The pytest plugin as a user meets it: installed, its fixtures and marker just work."""

from __future__ import annotations

import pytest

# Imported before any inner run: pytester drops modules an inner run imports, and the handle's
# error class must be the same object for the plugin and for the inner tests.
import ideogram_mock.testing.handle
import ideogram_mock.testing.inprocess
import ideogram_mock.testing.live  # noqa: F401

pytest_plugins = ("pytester",)

PLAIN_CLIENT_TESTS = """
import httpx
import pytest

BODY = {"model": "ideogram/character",
        "input": {"prompt": "p", "reference_image_urls": ["https://cdn.example.com/a.png"]}}

def test_first(kie_mock):
    with httpx.Client(headers={"Authorization": "Bearer k"}) as http:
        answer = http.post("https://api.kie.ai/api/v1/jobs/createTask", json=BODY).json()
    assert answer["code"] == 200
    assert len(kie_mock.tasks) == 1

def test_second_starts_clean(kie_mock):
    assert kie_mock.tasks == []
    assert kie_mock.requests == []
    assert kie_mock.now_ms() == 1767225600000

@pytest.mark.kie(credits=10, api_keys=["only"])
def test_marker_configures_the_fake(kie_mock):
    with httpx.Client() as http:
        stranger = http.get("https://api.kie.ai/api/v1/chat/credit",
                            headers={"Authorization": "Bearer k"}).json()
        known = http.get("https://api.kie.ai/api/v1/chat/credit",
                         headers={"Authorization": "Bearer only"}).json()
    assert stranger["code"] == 401
    assert known["data"] == 10

def test_after_a_marked_test_defaults_return(kie_mock):
    with httpx.Client(headers={"Authorization": "Bearer k"}) as http:
        assert http.get("https://api.kie.ai/api/v1/chat/credit").json()["data"] == 100000

def test_respx_is_not_left_patched():
    from respx.mocks import HTTPCoreMocker
    assert HTTPCoreMocker.routers == []
"""


def test_pytest_plugin_fixtures_work_with_no_import_or_conftest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_client=PLAIN_CLIENT_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=5)


def test_pytest_plugin_kie_server_serves_a_real_port(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_live="""
import urllib.request, json

def test_live(kie_server):
    assert kie_server.base_url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(kie_server.base_url + "/api/v1/chat/credit",
                                     headers={"Authorization": "Bearer k"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.load(answer)["data"] == 100000
    kie_server.set_credits(5, api_key="k")
    assert kie_server.credits("k") == 5

def test_live_reset_between_tests(kie_server):
    assert kie_server.credits("k") == 100000
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_pytest_plugin_marker_is_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.kie(**settings)*"])


def test_pytest_plugin_bad_marker_settings_fail_the_test_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
import pytest

@pytest.mark.kie(clock="sundial")
def test_bad(kie_mock):
    pass
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*clock must be real or manual*"])


def test_pytest_plugin_handle_refuses_bad_rules(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_rules="""
import pytest

from ideogram_mock import HandleError

def test_rules(kie_mock):
    with pytest.raises(HandleError, match="code"):
        kie_mock.fault("createTask", 299)
    with pytest.raises(HandleError, match="unknown match"):
        kie_mock.fail_next(colour="red")
    assert kie_mock.fail_next(model="ideogram/character")["remaining"] == 1
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_pytest_plugin_marker_values_are_checked_and_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_markers="""
import pytest

@pytest.mark.kie(api_keys="secret")
def test_a_string_for_a_list(kie_mock):
    pass

@pytest.mark.kie(credit=10)
def test_a_misspelt_setting(kie_mock):
    pass

@pytest.mark.segmind(time_scale="fast")
def test_a_wrong_type(segmind_mock):
    pass

@pytest.mark.kie(hosts="https://api.kie.ai")
def test_hosts_as_a_string(kie_server):
    pass
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(
        [
            "*api_keys must be a list of strings, not 'secret'*",
            "*unknown fixture setting 'credit'; settings: *credits*",
            "*time_scale must be of type float, not 'fast'*",
            "*hosts must be a list of strings*",
        ],
        consecutive=False,
    )


def test_pytest_plugin_lets_other_hosts_through_unless_strict(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_through="""
import httpx
import pytest
import respx

from ideogram_mock import Settings
from ideogram_mock.testing.live import running_server

@pytest.fixture(scope="module")
def own_service():
    # The client's own service on loopback (here another fake stands in for it).
    with running_server(Settings(port=0)) as server:
        yield server.url

def test_other_hosts_reach_the_network(kie_mock, own_service):
    assert httpx.get(f"{own_service}/health").json()["status"] == "ok"
    kie = httpx.get("https://api.kie.ai/api/v1/chat/credit", headers=kie_mock.headers())
    assert kie.json()["data"] == 100000

@pytest.mark.kie(pass_through=False)
def test_strict_refuses_them(kie_mock, own_service):
    with pytest.raises(respx.models.AllMockedAssertionError, match="not mocked"):
        httpx.get(f"{own_service}/health")
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_pytest_plugin_real_clock_delivers_callbacks_and_never_leaks(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_real="""
import time

import httpx
import pytest

BODY = {"model": "ideogram/character", "callBackUrl": "https://client.test/hook",
        "input": {"prompt": "p", "reference_image_urls": ["https://cdn.example.com/a.png"]}}

@pytest.mark.kie(clock="real", time_scale=0.01)
def test_in_process_callbacks_arrive_on_the_real_clock(kie_mock):
    got = []
    kie_mock.router.post("https://client.test/hook").mock(
        side_effect=lambda request: got.append(request) or httpx.Response(200)
    )
    with httpx.Client(headers=kie_mock.headers()) as http:
        http.post("https://api.kie.ai/api/v1/jobs/createTask", json=BODY).raise_for_status()
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(got) == 1
    assert kie_mock.callbacks[0]["ok"] is True

@pytest.mark.kie(clock="real")
def test_a_server_clock_moved_ahead(kie_server):
    kie_server.advance(3600)
    assert kie_server.now_ms() > time.time() * 1000 + 3_500_000

@pytest.mark.kie(clock="real")
def test_the_next_test_starts_at_the_wall_clock(kie_server):
    assert abs(kie_server.now_ms() - time.time() * 1000) < 60_000
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_pytest_plugin_handle_has_one_error_type_and_typed_views(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_handle="""
import pytest

from ideogram_mock import HandleError

def test_handle(kie_mock):
    for bad in (lambda: kie_mock.advance(float("nan")),
                lambda: kie_mock.advance(-1),
                lambda: kie_mock.set_credits(-5),
                lambda: kie_mock.set_credits("10"),
                lambda: kie_mock.task("nothing"),
                lambda: kie_mock.add_rule({"outcome": "maybe"})):
        with pytest.raises(HandleError):
            bad()
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
