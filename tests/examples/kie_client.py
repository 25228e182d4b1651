"""An example kie.ai client, as a dependent team might write it: the code the how-tos test.

It takes an httpx client and a `sleep` function, so tests can serve it from the fake and make
its waits move the fake's clock instead of real time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

KIE = "https://api.kie.ai"


class KieError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg


class TaskFailed(Exception):
    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__(
            f"task {record['taskId']} failed: {record['failCode']} {record['failMsg']}"
        )
        self.record = record


def _unwrap(response: httpx.Response) -> Any:
    envelope = response.json()
    if envelope["code"] != 200:
        raise KieError(envelope["code"], envelope["msg"])
    return envelope["data"]


def _character(prompt: str, portrait: str) -> dict[str, Any]:
    return {
        "model": "ideogram/character",
        "input": {"prompt": prompt, "reference_image_urls": [portrait]},
    }


class AsyncKie:
    def __init__(
        self,
        http: httpx.AsyncClient,
        api_key: str,
        *,
        base_url: str = KIE,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        poll_every: float = 3.0,
        retries: int = 3,
    ) -> None:
        self.http = http
        self.base = base_url
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.sleep = sleep
        self.poll_every = poll_every
        self.retries = retries

    async def create(self, body: dict[str, Any]) -> str:
        """createTask, backing off on 429 (1 s, 2 s, 4 s …)."""
        for attempt in range(self.retries + 1):
            response = await self.http.post(
                f"{self.base}/api/v1/jobs/createTask", json=body, headers=self.headers
            )
            try:
                return str(_unwrap(response)["taskId"])
            except KieError as error:
                if error.code != 429 or attempt == self.retries:
                    raise
                await self.sleep(2**attempt)
        raise AssertionError("unreachable")

    async def wait(self, task_id: str, timeout: float = 600) -> dict[str, Any]:
        """Poll recordInfo until the task ends; raises TaskFailed on `fail`."""
        waited = 0.0
        while waited <= timeout:
            response = await self.http.get(
                f"{self.base}/api/v1/jobs/recordInfo",
                params={"taskId": task_id},
                headers=self.headers,
            )
            record: dict[str, Any] = _unwrap(response)
            if record["state"] == "success":
                return record
            if record["state"] == "fail":
                raise TaskFailed(record)
            await self.sleep(self.poll_every)
            waited += self.poll_every
        raise TimeoutError(task_id)

    async def generate(self, prompt: str, portrait: str) -> list[str]:
        """A character image: create, wait, and start over when a task fails."""
        for attempt in range(self.retries + 1):
            task_id = await self.create(_character(prompt, portrait))
            try:
                record = await self.wait(task_id)
            except TaskFailed:
                if attempt == self.retries:
                    raise
                continue
            urls: list[str] = json.loads(record["resultJson"])["resultUrls"]
            return urls
        raise AssertionError("unreachable")

    async def fresh_link(self, url: str) -> str:
        response = await self.http.post(
            f"{self.base}/api/v1/common/download-url", json={"url": url}, headers=self.headers
        )
        return str(_unwrap(response))


class SyncKie:
    """The same flow for code that uses a synchronous client (httpx.Client or requests)."""

    def __init__(
        self,
        http: Any,
        api_key: str,
        *,
        base_url: str = KIE,
        sleep: Callable[[float], Any] = time.sleep,
        poll_every: float = 3.0,
    ) -> None:
        self.http = http
        self.base = base_url
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.sleep = sleep
        self.poll_every = poll_every

    def generate(self, prompt: str, portrait: str) -> list[str]:
        response = self.http.post(
            f"{self.base}/api/v1/jobs/createTask",
            json=_character(prompt, portrait),
            headers=self.headers,
        )
        task_id = _unwrap(response)["taskId"]
        while True:
            response = self.http.get(
                f"{self.base}/api/v1/jobs/recordInfo",
                params={"taskId": task_id},
                headers=self.headers,
            )
            record = _unwrap(response)
            if record["state"] == "success":
                urls: list[str] = json.loads(record["resultJson"])["resultUrls"]
                return urls
            if record["state"] == "fail":
                raise TaskFailed(record)
            self.sleep(self.poll_every)
