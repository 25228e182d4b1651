"""The pytest plugin as a user meets it: installed, its fixtures and marker just work."""

from __future__ import annotations

import pytest

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
