"""The inspector at /_mock/ui/, driven in a real headless Chromium (Debian's chromium and
chromedriver, through Selenium): tasks of two providers listed and filtered, the clock advanced
from the page until a task succeeds, its page with its image loaded and its callback attempt,
a fail-next rule added from the page failing the next task, no console errors. It also makes
the README's screenshots, so they cannot fall behind the page."""

from __future__ import annotations

import io
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from PIL import Image, ImageChops

from ideogram_mock.settings import Settings
from ideogram_mock.testing.live import RunningServer, start_server
from ideogram_mock.testing.receiver import CallbackReceiver

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.chrome.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
T = TypeVar("T")


def _wait(what: str, check: Callable[[], T | None], timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("chromium and chromedriver are needed (make test installs them)")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch a driver
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,900", "--force-prefers-reduced-motion"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: WebDriver) -> Iterator[WebDriver]:
    """The browser for one test: its console drained before, its page left blank after (the
    inspector polls; it must not go on polling a server the test has stopped)."""
    _browser_log(browser)  # drained
    yield browser
    browser.get("about:blank")


@pytest.fixture
def fake() -> Iterator[RunningServer]:
    server = start_server(Settings(port=0, clock="manual", rate_limit=None))
    try:
        yield server
    finally:
        server.stop()


def _kie_task(server: RunningServer, callback: str | None = None, prompt: str = "a knight") -> str:
    body: dict[str, Any] = {
        "model": "ideogram/character",
        "input": {"prompt": prompt, "reference_image_urls": ["http://127.0.0.1:9/me.png"]},
    }
    if callback:
        body["callBackUrl"] = callback
    answer = httpx.post(
        f"{server.url}/api/v1/jobs/createTask",
        json=body,
        headers={"Authorization": "Bearer ui-key"},
    ).json()
    return str(answer["data"]["taskId"])


def _segmind_task(server: RunningServer) -> str:
    answer = httpx.post(
        f"{server.url}/v2/ideogram-character",
        json={"prompt": "a knight", "character_reference_image": "http://127.0.0.1:9/me.png"},
        headers={"x-api-key": "SG_ui_key"},
    ).json()
    return str(answer["request_id"])


# The page redraws itself every second: read and act in one script, so that nothing held
# between two calls can go stale.
def _state(driver: WebDriver, task_id: str) -> str | None:
    found = driver.execute_script(
        "const c = document.querySelector(`tr[data-task='${arguments[0]}'] td:nth-child(5)`);"
        "return c ? c.textContent : null;",
        task_id,
    )
    return None if found is None else str(found)


def _click(driver: WebDriver, css: str) -> None:
    driver.execute_script("document.querySelector(arguments[0]).click()", css)


def _button(driver: WebDriver, label: str) -> None:
    clicked = driver.execute_script(
        "const b = [...document.querySelectorAll('button')]"
        ".find(b => b.textContent === arguments[0]); if (b) b.click(); return !!b;",
        label,
    )
    assert clicked, f"no button {label!r}"


def _text(driver: WebDriver, css: str = "main") -> str:
    return str(driver.execute_script("return document.querySelector(arguments[0]).innerText", css))


def _retrying(action: Callable[[], T], tries: int = 20) -> T:
    for _ in range(tries - 1):
        try:
            return action()
        except StaleElementReferenceException:
            time.sleep(0.05)
    return action()


def _acting_until(
    what: str, action: Callable[[], object], check: Callable[[], T | None], tries: int = 5
) -> T:
    """Act, then wait a while for the effect; act again if it did not show."""
    for _ in range(tries - 1):
        action()
        try:
            return _wait(what, check, timeout=4.0)
        except AssertionError:
            continue
    action()
    return _wait(what, check)


def _settle(driver: WebDriver) -> None:
    """Wait for the page to stop changing (two polls alike), so a screenshot is the same from
    run to run."""
    shown = "return document.body.innerText"
    before = driver.execute_script(shown)
    for _ in range(20):
        time.sleep(1.1)
        now = driver.execute_script(shown)
        if now == before:
            return
        before = now


def _shoot(driver: WebDriver, name: str) -> None:
    """A screenshot for the README, once the page has settled; an old one that differs by a
    few anti-aliased pixels is kept (so a test run leaves the checkout as it was)."""
    _settle(driver)
    shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    path = SHOTS / name
    if path.exists():
        old = Image.open(path).convert("RGB")
        if old.size == shot.size:
            box = ImageChops.difference(old, shot).getbbox()
            if (
                box is None
                or (box[2] - box[0]) * (box[3] - box[1]) < 0.01 * shot.width * shot.height
            ):
                return
    SHOTS.mkdir(exist_ok=True)
    shot.save(path, optimize=True)


def _browser_log(driver: WebDriver) -> list[dict[str, Any]]:
    """The console's entries since the last call (selenium's get_log is untyped)."""
    entries: list[dict[str, Any]] = driver.execute("getLog", {"type": "browser"})["value"]
    return entries


def _console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    return [e for e in _browser_log(driver) if e["level"] == "SEVERE"]


NATURAL = (
    "const i = document.querySelector('.thumbs img'); return i && i.complete ? i.naturalWidth : 0;"
)
LISTED = "return [...document.querySelectorAll('tr[data-task]')].map(r => r.dataset.task)"


def test_the_inspector_shows_and_drives_tasks_of_two_providers(
    page: WebDriver, fake: RunningServer
) -> None:
    browser = page
    with CallbackReceiver() as receiver:
        # No callback on the first two: the screenshots then show nothing that varies by run.
        kie = _kie_task(fake)
        segmind = _segmind_task(fake)
        browser.get(f"{fake.url}/_mock/ui/")
        # Both providers' tasks are listed, newest first, in their own words.
        _wait("both tasks listed", lambda: _state(browser, kie) and _state(browser, segmind))
        assert (_state(browser, kie), _state(browser, segmind)) == ("waiting", "QUEUED")
        assert browser.execute_script(LISTED) == [segmind, kie]
        # The clock moves from the page; the list follows on its own (polling).
        _click(browser, "#adv10")
        _wait("kie's task generating", lambda: _state(browser, kie) == "generating")
        _click(browser, "#advNext")
        _wait("kie's task done", lambda: _state(browser, kie) == "success", timeout=20)
        _shoot(browser, "ui-tasks.png")

        # Filtering by provider.
        def choose() -> None:
            browser.find_element(By.CSS_SELECTOR, 'select[name="provider"]').send_keys("segmind")
            _button(browser, "filter")

        # A redraw between choosing and clicking can undo the choice: choose until it holds.
        _acting_until(
            "only segmind's",
            lambda: _retrying(choose),
            lambda: _state(browser, kie) is None and _state(browser, segmind),
        )

        # The task's page: its image loaded, its record.
        browser.get(f"{fake.url}/_mock/ui/#/task/{kie}")
        assert _wait("the result image loaded", lambda: browser.execute_script(NATURAL)) > 0
        assert '"state": "success"' in _text(browser)  # the record, as recordInfo answers it
        _shoot(browser, "ui-task.png")

        # A task with a callback, run to its end from its page: the attempt is listed.
        hooked = _kie_task(fake, callback=receiver.url)
        browser.get(f"{fake.url}/_mock/ui/#/task/{hooked}")
        _wait("the hooked task's page", lambda: hooked in _text(browser))
        _button(browser, "advance to its end")
        receiver.wait_for(1)
        _wait("the callback attempt", lambda: "delivered" in _text(browser))

        # A fail-next rule from the page: the next task fails.
        browser.get(f"{fake.url}/_mock/ui/#/rules")
        _wait("the rules page", lambda: "fail the next task" in _text(browser))
        _button(browser, "fail the next task")
        _wait("the rule listed", lambda: "rule-" in _text(browser))
        doomed = _kie_task(fake)
        browser.get(f"{fake.url}/_mock/ui/#/task/{doomed}")
        _wait("the doomed task's page", lambda: doomed in _text(browser))
        _button(browser, "advance to its end")
        _wait("it failed", lambda: "fail (failed)" in _text(browser))

    assert _console_errors(browser) == []


def test_the_inspector_fails_a_task_and_sets_credits_through_the_control_api(
    page: WebDriver, fake: RunningServer
) -> None:
    browser = page
    task = _kie_task(fake)
    browser.get(f"{fake.url}/_mock/ui/#/task/{task}")
    _wait("the task page", lambda: task in _text(browser))
    _button(browser, "fail it now")
    _wait("it failed", lambda: "fail (failed)" in _text(browser))
    key = {"Authorization": "Bearer ui-key"}
    record = httpx.get(
        f"{fake.url}/api/v1/jobs/recordInfo", params={"taskId": task}, headers=key
    ).json()
    assert record["data"]["state"] == "fail"
    credit = httpx.get(f"{fake.url}/api/v1/chat/credit", headers=key)
    assert credit.json()["data"] == 100_000  # the charge came back

    browser.get(f"{fake.url}/_mock/ui/#/accounts")
    has_field = "return !!document.querySelector('main input[type=number]')"
    _wait("the account", lambda: browser.execute_script(has_field))

    def set_credits() -> None:
        field = browser.find_element(By.CSS_SELECTOR, "main input[type=number]")
        field.clear()
        field.send_keys("42")
        _button(browser, "set")

    _retrying(set_credits)
    _wait("credits set", lambda: "credits set" in _text(browser, "#status"))
    credit = httpx.get(f"{fake.url}/api/v1/chat/credit", headers=key)
    assert credit.json()["data"] == 42
    assert _console_errors(browser) == []


def test_the_inspector_needs_the_admin_token_when_one_is_set(page: WebDriver) -> None:
    browser = page
    server = start_server(Settings(port=0, clock="manual", admin_token="s3cret"))
    try:
        assert httpx.get(f"{server.url}/_mock/ui/").status_code == 401
        browser.get(f"{server.url}/_mock/ui/?token=s3cret")
        _wait("the clock shown", lambda: "manual clock" in _text(browser, "#clock"))
        assert _console_errors(browser) == []
    finally:
        server.stop()
