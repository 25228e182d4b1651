"""Shared test harness: the fake in-process on a manual clock, every answer checked by the spec."""

from __future__ import annotations

import base64
import copy
import json
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ideogram_mock.core.callbacks import CallbackDispatcher, DeliveryFor, Sender
from ideogram_mock.core.clock import ManualClock
from ideogram_mock.core.dialect import Delivery
from ideogram_mock.core.engine import Fake
from ideogram_mock.core.journal import CallbackAttempt, Journal
from ideogram_mock.kit.conformance import Conformance
from ideogram_mock.server.app import create_app, make_fake
from ideogram_mock.settings import Settings
from ideogram_mock.stores import open_store
from ideogram_mock.stores.base import Store
from ideogram_mock.testing.redis_server import redis_server

pytest_plugins = ("pytester",)
# Parsed specs are cached between runs; the tests (and the servers they start) use their own.
os.environ.setdefault("IDEOGRAM_MOCK_CACHE", tempfile.mkdtemp(prefix="ideogram-mock-cache-"))
ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "fixtures" / "seed"
BASE = "http://127.0.0.1:8000"
# Never fetched unless a test turns fetch_inputs on and serves them itself.
LOCAL_IMAGE = "http://127.0.0.1:9/portrait.png"
CONFORMANCE = Conformance()


def seed(name: str) -> Any:
    return json.loads((SEED / name).read_text())


def local_body(name: str = "create_task_character.json", **input_changes: Any) -> dict[str, Any]:
    """A seed request with its public URLs swapped for local ones and no callback."""
    body: dict[str, Any] = copy.deepcopy(seed(name))
    body.pop("callBackUrl", None)
    inp = body["input"]
    inp["reference_image_urls"] = [LOCAL_IMAGE]
    for key in ("image_url", "mask_url"):
        if key in inp:
            inp[key] = LOCAL_IMAGE
    inp.update(input_changes)
    return body


def assert_conforms(response: httpx.Response) -> None:
    """Every answer the fake gives must conform to the spec (the body must be read)."""
    problems = CONFORMANCE.response_problems(
        response.request.method,
        response.request.url.path,
        response.status_code,
        response.headers.get("content-type", ""),
        response.content,
    )
    if problems:
        raise AssertionError("non-conforming answer: " + "; ".join(problems))


async def check_response(response: httpx.Response) -> None:
    """An async httpx hook running `assert_conforms`."""
    await response.aread()
    assert_conforms(response)


class Kie:
    """The fake plus a spec-checked client, with shortcuts for the common calls."""

    def __init__(self, fake: Fake, client: httpx.AsyncClient, unchecked: httpx.AsyncClient) -> None:
        self.fake = fake
        self.client = client
        # Only for requests outside every spec (unknown paths), which no spec can judge.
        self.unchecked = unchecked

    async def create(self, body: dict[str, Any] | None = None, key: str = "k1") -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/jobs/createTask",
            json=body if body is not None else local_body(),
            headers={"Authorization": f"Bearer {key}"},
        )
        result: dict[str, Any] = response.json()
        return result

    async def create_id(self, body: dict[str, Any] | None = None, key: str = "k1") -> str:
        answer = await self.create(body, key)
        assert answer["code"] == 200, answer
        task_id: str = answer["data"]["taskId"]
        return task_id

    async def record(self, task_id: str, key: str = "k1") -> dict[str, Any]:
        response = await self.client.get(
            "/api/v1/jobs/recordInfo",
            params={"taskId": task_id},
            headers={"Authorization": f"Bearer {key}"},
        )
        result: dict[str, Any] = response.json()
        return result

    async def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, path, **kwargs)

    async def advance(self, seconds: float) -> dict[str, Any]:
        response = await self.client.post("/_mock/clock/advance", json={"seconds": seconds})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def _test_store() -> str:
    """The store the suite's fakes use: memory, unless IDEOGRAM_MOCK_TEST_STORE names another
    kind (`sqlite`: a new file per fake; `redis://…`: a new key prefix per fake on that
    server), to run every behaviour test against a durable store."""
    kind = os.environ.get("IDEOGRAM_MOCK_TEST_STORE", "memory")
    if kind == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='ideogram-mock-test-')}/state.db"
    if kind.startswith("redis://"):
        return f"{kind}?prefix=t{uuid.uuid4().hex}"
    return "memory"


def kie_delivery(task_id: str, now_ms: int, due_ms: int | None) -> tuple[str, Delivery]:
    return "kie", Delivery({"taskId": task_id})


def make_dispatcher(
    store: Store,
    sender: Sender,
    delivery_for: DeliveryFor = kie_delivery,
    *,
    retries: int = 2,
    backoff_s: float = 1.0,
    **options: Any,
) -> CallbackDispatcher:
    """A callback dispatcher over `store` on a manual clock, sending to loopback through
    `sender` (1 s timeout); `options` go to CallbackDispatcher (per_host, …)."""
    return CallbackDispatcher(
        ManualClock(store=store), delivery_for, Journal(store, "callbacks", CallbackAttempt, 100),
        retries=retries, backoff_s=backoff_s, timeout_s=1.0, hosts=("127.0.0.1",),
        sender=sender, store=store, **options,
    )  # fmt: skip


def fresh(settings: Settings) -> Settings:
    """The settings with a store of their own (settings made once for many tests would
    otherwise share one durable store)."""
    return settings if settings.store == "memory" else settings.replace(store=_test_store())


def make_settings(**changes: Any) -> Settings:
    defaults: dict[str, Any] = {"clock": "manual", "public_url": BASE, "store": _test_store()}
    defaults.update(changes)
    return Settings(**defaults)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings() -> Settings:
    return make_settings()


STORE_KINDS = ("memory", "sqlite", "redis")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server of the test session's own, on a free loopback port."""
    with redis_server() as url:
        yield url


def store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store of a kind: a new SQLite file, or a new key prefix on the session's
    Redis server."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    if kind == "redis":
        return f"{request.getfixturevalue('redis_url')}?prefix=t{uuid.uuid4().hex}"
    return "memory"


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each kind of store, empty (the same behaviour is asked of all of them)."""
    opened = open_store(store_url(request.param, tmp_path, request))
    yield opened
    opened.close()


@pytest.fixture(params=[kind for kind in STORE_KINDS if kind != "memory"])
def durable_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each kind of store that processes share (leases end only there), empty."""
    opened = open_store(store_url(request.param, tmp_path, request))
    yield opened
    opened.close()


@pytest.fixture
async def kie(settings: Settings) -> AsyncIterator[Kie]:
    fake = make_fake(fresh(settings))
    transport = httpx.ASGITransport(app=create_app(fake=fake))
    async with (
        httpx.AsyncClient(
            transport=transport, base_url=BASE, event_hooks={"response": [check_response]}
        ) as client,
        httpx.AsyncClient(transport=transport, base_url=BASE) as unchecked,
    ):
        yield Kie(fake, client, unchecked)


SEGMIND_BASE = "https://api.segmind.com"


def segmind_body(**changes: Any) -> dict[str, Any]:
    """The Segmind model page's example request, its public reference URL swapped for a local
    one (never fetched unless a test turns fetch_inputs on)."""
    body: dict[str, Any] = {
        "prompt": "a close up photo of a woman in a fashion magazine photoshoot",
        "resolution": "512x1536",
        "style_type": "Realistic",
        "aspect_ratio": "16:9",
        "rendering_speed": "Quality",
        "magic_prompt_option": "Off",
        "character_reference_image": LOCAL_IMAGE,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


class Segmind:
    """The fake with a spec-checked client on Segmind's host, keyed by `x-api-key`."""

    def __init__(self, fake: Fake, client: httpx.AsyncClient, unchecked: httpx.AsyncClient) -> None:
        self.fake = fake
        self.client = client
        self.unchecked = unchecked  # only for paths outside every spec

    async def _post(self, path: str, key: str | None, kwargs: dict[str, Any]) -> httpx.Response:
        headers = {"x-api-key": key} if key else {}
        headers.update(kwargs.pop("headers", {}))
        kwargs.setdefault("json", segmind_body())
        return await self.client.post(path, headers=headers, **kwargs)

    async def generate(self, key: str | None = "k1", **kwargs: Any) -> httpx.Response:
        return await self._post("/v1/ideogram-character", key, kwargs)

    async def submit(self, key: str | None = "k1", **kwargs: Any) -> httpx.Response:
        return await self._post("/v2/ideogram-character", key, kwargs)

    async def get(self, url: str, key: str | None = "k1") -> httpx.Response:
        return await self.client.get(url, headers={"x-api-key": key} if key else {})

    async def advance(self, seconds: float) -> None:
        await self.fake.advance(seconds)


@pytest.fixture
async def segmind(settings: Settings) -> AsyncIterator[Segmind]:
    fake = make_fake(fresh(settings).replace(public_url=SEGMIND_BASE))
    transport = httpx.ASGITransport(app=create_app(fake=fake))
    async with (
        httpx.AsyncClient(
            transport=transport, base_url=SEGMIND_BASE, event_hooks={"response": [check_response]}
        ) as client,
        httpx.AsyncClient(transport=transport, base_url=SEGMIND_BASE) as unchecked,
    ):
        yield Segmind(fake, client, unchecked)


SCENARIO_BASE = "https://api.cloud.scenario.com"
IMAGES = ROOT / "fixtures" / "images"


def basic(key: str, secret: str = "secret") -> dict[str, str]:
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class ScenarioClient:
    """The fake with a spec-checked client on Scenario's host, keyed by Basic auth."""

    def __init__(self, fake: Fake, client: httpx.AsyncClient) -> None:
        self.fake = fake
        self.client = client

    async def upload(self, name: str = "portrait.png", key: str = "k1") -> str:
        image = base64.b64encode((IMAGES / name).read_bytes()).decode()
        response = await self.client.post(
            "/v1/assets", json={"name": name, "image": image}, headers=basic(key)
        )
        assert response.status_code == 200, response.text
        asset_id: str = response.json()["asset"]["id"]
        return asset_id

    async def generate(
        self, key: str = "k1", params: dict[str, str] | None = None, **body: Any
    ) -> httpx.Response:
        return await self.client.post(
            "/v1/generate/custom/model_ideogram-character",
            json={"prompt": "A fantasy landscape", **body},
            headers=basic(key),
            params=params,
        )

    async def job(self, job_id: str, key: str = "k1") -> httpx.Response:
        return await self.client.get(f"/v1/jobs/{job_id}", headers=basic(key))

    async def get(self, url: str, key: str = "k1") -> httpx.Response:
        return await self.client.get(url, headers=basic(key))


@pytest.fixture
async def scenario(settings: Settings) -> AsyncIterator[ScenarioClient]:
    fake = make_fake(fresh(settings).replace(public_url=SCENARIO_BASE))
    transport = httpx.ASGITransport(app=create_app(fake=fake))
    async with httpx.AsyncClient(
        transport=transport, base_url=SCENARIO_BASE, event_hooks={"response": [check_response]}
    ) as client:
        yield ScenarioClient(fake, client)
