"""How to test a client's webhook handler: route the callBackUrl to your own ASGI app with respx;
the fake's POST reaches it when a task ends, and every attempt is on `kie_mock.callbacks`."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import httpx
import pytest
import respx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ideogram_mock.testing.inprocess import KieMock

pytestmark = pytest.mark.anyio
HOOK = "https://my-app.example.com/kie/webhook"
SECRET = "whsec-demo"


def webhook_app(received: list[dict[str, Any]]) -> Starlette:
    """The client's webhook: checks kie's signature, stores the result."""

    async def hook(request: Request) -> JSONResponse:
        body = await request.json()
        stamp = request.headers.get("x-webhook-timestamp", "")
        expected = base64.b64encode(
            hmac.new(
                SECRET.encode(), f"{body['data']['taskId']}.{stamp}".encode(), hashlib.sha256
            ).digest()
        ).decode()
        if not hmac.compare_digest(expected, request.headers.get("x-webhook-signature", "")):
            return JSONResponse({"code": 401, "msg": "bad signature"}, status_code=401)
        received.append(body)
        return JSONResponse({"code": 200, "msg": "success"})

    return Starlette(routes=[Route("/kie/webhook", hook, methods=["POST"])])


@pytest.mark.kie(webhook_hmac_key=SECRET)
async def test_howto_webhook_receives_the_signed_result(kie_mock: KieMock) -> None:
    received: list[dict[str, Any]] = []
    kie_mock.router.post(HOOK).mock(side_effect=respx.ASGIHandler(webhook_app(received)))
    body = {
        "model": "ideogram/character",
        "callBackUrl": HOOK,
        "input": {"prompt": "a knight", "reference_image_urls": ["https://cdn.example.com/me.png"]},
    }
    async with httpx.AsyncClient(headers=kie_mock.headers()) as http:
        created = await http.post(f"{kie_mock.base_url}/api/v1/jobs/createTask", json=body)
    task_id = created.json()["data"]["taskId"]

    await kie_mock.aadvance(5)
    assert received == []  # nothing until the task ends
    await kie_mock.afinish(task_id)

    assert [r["data"]["taskId"] for r in received] == [task_id]
    assert received[0]["msg"] == "Playground task completed successfully."
    (attempt,) = kie_mock.callbacks
    assert (attempt["ok"], attempt["status"], attempt["url"]) == (True, 200, HOOK)


async def test_howto_webhook_that_was_never_routed_is_still_captured(kie_mock: KieMock) -> None:
    body = {
        "model": "ideogram/character",
        "callBackUrl": "https://nowhere.example.com/hook",
        "input": {
            "prompt": "[mock:fail] a knight",
            "reference_image_urls": ["https://cdn.example.com/me.png"],
        },
    }
    async with httpx.AsyncClient(headers=kie_mock.headers()) as http:
        created = await http.post(f"{kie_mock.base_url}/api/v1/jobs/createTask", json=body)
    await kie_mock.afinish(created.json()["data"]["taskId"])
    first = kie_mock.callbacks[0]
    assert first["ok"] is False
    assert first["error"] is not None
    assert "not mocked" in first["error"]
    assert first["body"]["msg"] == "Playground task failed."
