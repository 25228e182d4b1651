"""Answers about ended tasks are rendered once, and never outlive the task they describe."""

from __future__ import annotations

import base64
import dataclasses
import functools
from pathlib import Path
from typing import Any

import httpx
import pytest

from ideogram_mock.core.tasks import Task, Timeline
from ideogram_mock.server.ended import EndedAnswers
from ideogram_mock.server.endpoint import Answer
from ideogram_mock.settings import Settings
from ideogram_mock.testing.inprocess import KieMock

BODY: dict[str, Any] = {
    "model": "ideogram/character",
    "input": {"prompt": "a knight", "reference_image_urls": ["https://cdn.example.com/a.png"]},
}
RECORD = "https://api.kie.ai/api/v1/jobs/recordInfo"
IMAGES = Path(__file__).resolve().parent.parent / "fixtures" / "images"


def _task(n: int) -> Task:
    return Task(
        f"{n:032x}", "kie", "k", "ideogram/character", "{}", None, 0, Timeline(1, 2, 3), 1,
        (8, 8), 1, 2, None, 1, None, None,
    )  # fmt: skip


def test_ended_answers_are_kept_per_task_and_only_for_that_task() -> None:
    kept = EndedAnswers(lambda result: Answer(200, result), size=2)
    renders: list[int] = []

    def render(n: int) -> Answer:
        renders.append(n)
        return Answer(200, str(n).encode())

    one, two, three = _task(1), _task(2), _task(3)
    assert kept.of(one, True, lambda: render(1)).body == b"1"
    assert kept.of(one, True, lambda: render(9)).body == b"1"  # the same object: kept
    assert kept.of(dataclasses.replace(one), True, lambda: render(9)).body == b"1"  # an equal one
    changed = dataclasses.replace(one, credits=7)  # same id, another task (after a reset, say)
    assert kept.of(changed, True, lambda: render(11)).body == b"11"
    kept.of(two, True, lambda: render(2))
    kept.of(three, True, lambda: render(3))  # over the bound: the oldest goes
    assert kept.of(changed, True, lambda: render(12)).body == b"12"
    assert renders == [1, 11, 2, 3, 12]


def test_ended_answers_keep_at_most_their_byte_budget_and_render_a_huge_one_each_time() -> None:
    kept = EndedAnswers(lambda result: Answer(200, result), size=100, budget=1600)
    renders: list[int] = []

    def render(n: int, size: int) -> Answer:
        renders.append(n)
        return Answer(200, f"{n:02d}".encode().ljust(size, b"."))

    tasks = [_task(n) for n in range(21)]
    for n in range(20):  # 90 bytes each: 17 fit in 1,600, so the first three go
        assert (
            kept.of(tasks[n], True, functools.partial(render, n, 90)).body[:2]
            == f"{n:02d}".encode()
        )
    assert sum(len(answer.body) for _, answer in kept._kept.values()) == 17 * 90
    again = [kept.of(t, True, lambda: render(-1, 1)).body[:2] for t in tasks[3:20]]
    assert again == [f"{n:02d}".encode() for n in range(3, 20)]  # kept: not rendered again
    assert kept.of(tasks[0], True, lambda: render(30, 90)).body[:2] == b"30"  # gone: rendered
    # Longer than a sixteenth of the budget: rendered again at every poll, never kept.
    for _ in range(2):
        assert len(kept.of(tasks[20], True, lambda: render(20, 101)).body) == 101
    assert renders == [*range(20), 30, 20, 20]
    assert sum(len(answer.body) for _, answer in kept._kept.values()) <= 1600


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_an_ended_task_polled_again_answers_the_same_and_is_still_journaled_and_faulted(
    store: str, tmp_path: Path
) -> None:
    url = "memory" if store == "memory" else f"sqlite:///{tmp_path}/state.db"
    with (
        KieMock(Settings(clock="manual", store=url)) as mock,
        httpx.Client(headers=mock.headers()) as http,
    ):
        task_id = http.post(mock.base_url + "/api/v1/jobs/createTask", json=BODY).json()["data"][
            "taskId"
        ]
        mock.finish(task_id)
        first = http.get(RECORD, params={"taskId": task_id})
        second = http.get(RECORD, params={"taskId": task_id})
        assert first.json()["data"]["state"] == "success"
        assert second.content == first.content
        mock.fault("recordInfo", 500)
        faulted = http.get(RECORD, params={"taskId": task_id}).json()
        assert faulted["code"] == 500
        polls = [r for r in mock.requests if r["operationId"] == "getTaskRecord"]
        assert [r["code"] for r in polls] == [200, 200, 500]
        # Another key may not read it, kept answer or not.
        stranger = http.get(
            RECORD, params={"taskId": task_id}, headers={"Authorization": "Bearer x"}
        )
        assert stranger.json()["code"] != 200


def test_after_a_reset_a_task_with_the_same_id_is_answered_afresh() -> None:
    with KieMock(Settings(clock="manual")) as mock, httpx.Client(headers=mock.headers()) as http:
        first = http.post(mock.base_url + "/api/v1/jobs/createTask", json=BODY).json()["data"]
        mock.finish(first["taskId"])
        before = http.get(RECORD, params={"taskId": first["taskId"]}).json()["data"]
        mock.reset()  # the memory store hands the same ids out again
        other = {**BODY, "input": {**BODY["input"], "prompt": "a different knight"}}
        again = http.post(mock.base_url + "/api/v1/jobs/createTask", json=other).json()["data"]
        assert again["taskId"] == first["taskId"]
        mock.finish(again["taskId"])
        after = http.get(RECORD, params={"taskId": again["taskId"]}).json()["data"]
        assert "a different knight" in after["param"]
        assert after["param"] != before["param"]


def test_segmind_and_scenario_ended_polls_answer_the_same_each_time(kie_mock: KieMock) -> None:
    with httpx.Client() as http:
        queued = http.post(
            "https://api.segmind.com/v2/ideogram-character",
            json={
                "prompt": "a knight",
                "character_reference_image": "https://cdn.example.com/a.png",
            },
            headers={"x-api-key": "SG_k"},
        ).json()
        kie_mock.finish(queued["request_id"])
        for path in ("", "/status"):
            url = f"https://api.segmind.com/v2/requests/{queued['request_id']}{path}"
            first = http.get(url, headers={"x-api-key": "SG_k"})
            assert first.status_code == 200
            assert first.json()["status"] == "COMPLETED"
            assert http.get(url, headers={"x-api-key": "SG_k"}).content == first.content
        # Scenario: an uploaded reference, a job run to its end, polled twice.
        scenario = {"Authorization": "Basic " + base64.b64encode(b"k:s").decode()}
        portrait = base64.b64encode((IMAGES / "portrait.png").read_bytes()).decode()
        asset = http.post(
            "https://api.cloud.scenario.com/v1/assets",
            json={"name": "portrait.png", "image": portrait},
            headers=scenario,
        ).json()["asset"]["id"]
        job = http.post(
            "https://api.cloud.scenario.com/v1/generate/custom/model_ideogram-character",
            json={"prompt": "a knight", "characterReferenceImage": asset},
            headers=scenario,
        ).json()["job"]["jobId"]
        kie_mock.finish(job)
        url = f"https://api.cloud.scenario.com/v1/jobs/{job}"
        first = http.get(url, headers=scenario)
        assert first.json()["job"]["status"] == "success"
        assert http.get(url, headers=scenario).content == first.content


@pytest.mark.anyio
@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_a_change_made_while_an_operation_waits_is_seen_by_it(
    store: str, tmp_path: Path
) -> None:
    """A task is read after the operation's own waits (here a latency fault), never before
    them: a job failed meanwhile cannot be cancelled over its failure and refunded twice."""
    import asyncio

    from ideogram_mock.server.app import create_app, make_fake

    base = "https://api.cloud.scenario.com"
    url = "memory" if store == "memory" else f"sqlite:///{tmp_path}/state.db"
    fake = make_fake(Settings(clock="manual", public_url=base, store=url))
    auth = {"Authorization": "Basic " + base64.b64encode(b"k1:secret").decode()}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(fake=fake)), base_url=base
    ) as http:
        portrait = base64.b64encode((IMAGES / "portrait.png").read_bytes()).decode()
        asset = (
            await http.post("/v1/assets", json={"name": "p.png", "image": portrait}, headers=auth)
        ).json()["asset"]["id"]
        job = (
            await http.post(
                "/v1/generate/custom/model_ideogram-character",
                json={"prompt": "x", "characterReferenceImage": asset},
                headers=auth,
            )
        ).json()["job"]["jobId"]
        await fake.advance(5)
        fake.rules.add({"endpoint": "jobAction", "kind": "latency", "latencyMs": 300, "times": 1})

        async def fail_meanwhile() -> None:
            await asyncio.sleep(0.1)
            fake.fail_now(fake.task(job))

        cancel, _ = await asyncio.gather(
            http.post(f"/v1/jobs/{job}/action", json={"action": "cancel"}, headers=auth),
            fail_meanwhile(),
        )
        assert cancel.status_code == 400
        assert "already ended" in cancel.json()["message"]
        task = fake.task(job)
        assert (task.canceled, task.failure is not None) == (False, True)
        balance = (await http.get("/_mock/accounts")).json()["accounts"][0]["credits"]
        assert balance == fake.settings.credits  # refunded once
