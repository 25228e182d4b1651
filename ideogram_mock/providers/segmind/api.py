"""Segmind's serverless API over the core: the v1 call that answers with the image, the v2
queue, the credit balance, and `{"error": …}` for every refusal."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message, Scope

from ideogram_mock.core.engine import Fake, Order
from ideogram_mock.core.errors import (
    DomainError,
    InsufficientCredits,
    Maintenance,
    RateLimited,
    Scripted,
    TaskNotFound,
    Unauthorized,
)
from ideogram_mock.core.media import MAX_BYTES, Inputs
from ideogram_mock.core.numbers import ascii_int
from ideogram_mock.core.sizes import parse_size
from ideogram_mock.core.tasks import Failure, Stage, Task
from ideogram_mock.providers.segmind import records
from ideogram_mock.providers.segmind.models import (
    ASPECT_RATIOS,
    CREDITS,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_RESOLUTION,
    DEFAULT_SPEED,
    INVALID_FAILS_IN_S,
    MESSAGES,
    MISSING_KEY,
    NAME,
    RESULT_TTL_S,
    SLUG,
    SPEEDS,
    dollars,
)
from ideogram_mock.server.ended import EndedAnswers
from ideogram_mock.server.endpoint import Answer, Call, Handler
from ideogram_mock.server.httpio import is_json, parse_json, read_body
from ideogram_mock.server.spec import SchemaCheck, load_spec

SPEC = "segmind.yaml"
IMAGE_FIELDS = ("character_reference_image", "image", "mask")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# Three images of up to 10 MB each, and the text fields.
MAX_FORM_BYTES = 3 * MAX_BYTES + 1_048_576
_RESULT_TTL_MS = round(RESULT_TTL_S * 1000)
_RESOLUTION = re.compile(r"[0-9]{3,4}x[0-9]{3,4}")


class SegmindError(DomainError):
    """A refusal only Segmind's dialect makes: an HTTP status and its `error` message."""

    def __init__(self, status: int, message: str | None = None) -> None:
        self.status = status
        super().__init__(message if message is not None else MESSAGES.get(status, "Error"))


@dataclass(frozen=True)
class Received:
    """A request body as fields (JSON values, or form text) and uploaded image files."""

    fields: dict[str, Any]
    uploads: dict[str, bytes]
    form: bool


def _json(status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None) -> Answer:
    return Answer(status, orjson.dumps(body), code=status, headers=headers)


def _utc(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    return value if isinstance(value, str) and value else None


def order_of(
    received: Received,
    *,
    duration_s: float | None = None,
    failure: Failure | None = None,
) -> Order:
    """An order from the fields; with `failure` the fields may break the schema (a v2 request
    the worker refuses), so every field is read defensively."""
    fields, uploads = received.fields, received.uploads
    speed = _text(fields, "rendering_speed")
    speed = speed if speed in SPEEDS else DEFAULT_SPEED
    resolution = fields.get("resolution", DEFAULT_RESOLUTION)
    if isinstance(resolution, str) and _RESOLUTION.fullmatch(resolution):
        size = parse_size(resolution)
    else:
        ratio = _text(fields, "aspect_ratio")
        size = ASPECT_RATIOS[ratio if ratio in ASPECT_RATIOS else DEFAULT_ASPECT_RATIO]
    reference = _text(fields, "character_reference_image")
    image, mask = _text(fields, "image"), _text(fields, "mask")
    edit_bytes = (
        (uploads["image"], uploads["mask"]) if "image" in uploads and "mask" in uploads else None
    )
    inpainting = edit_bytes is not None or (image is not None and mask is not None)
    seed = fields.get("seed")
    return Order(
        provider=NAME,
        model=SLUG,
        prompt=_text(fields, "prompt") or "",
        request=orjson.dumps(fields).decode(),
        cost=0 if failure is not None else CREDITS[speed],
        speed=SPEEDS[speed],
        size=None if inpainting else size,
        default_size=size,
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        reference=None if "character_reference_image" in uploads else reference,
        inputs=Inputs(
            references=(reference,) if reference and not uploads else (),
            image=None if "image" in uploads else image,
            mask=None if "mask" in uploads else mask,
        ),
        reference_bytes=uploads.get("character_reference_image"),
        edit_bytes=edit_bytes,
        failure=failure,
        duration_s=duration_s,
    )


class SegmindApi:
    """Segmind's serverless API over the core."""

    name = NAME

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        spec = load_spec(SPEC)
        self.json_check: SchemaCheck = spec.check("#/components/schemas/Input")
        self.form_check: SchemaCheck = spec.check("#/components/schemas/FormInput")
        # An ended request's answers never change: rendered once (see `EndedAnswers`).
        self._kept_status = EndedAnswers(self.answer)
        self._kept_result = EndedAnswers(self.answer)

    def handlers(self) -> dict[str, Handler]:
        return {
            "generate": self.generate,
            "submit": self.submit,
            "status": self.status,
            "result": self.result,
            "poll": self.result,
            "userCredits": self.user_credits,
        }

    # ---- the one place that renders Segmind's answers ----------------------------------------
    def api_key(self, scope: Scope) -> str | None:
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                key = value.decode("latin-1").strip()
                return key or None
        return None

    def answer(self, result: Any) -> Answer:
        return _json(200, result)

    def refuse(self, exc: DomainError) -> Answer:
        if isinstance(exc, SegmindError):
            return _json(exc.status, {"error": exc.message})
        if isinstance(exc, Scripted):
            return _json(exc.code, {"error": exc.message or MESSAGES.get(exc.code, "Error")})
        if isinstance(exc, RateLimited):
            reset = _utc(self.fake.clock.now_ms() + exc.retry_after_ms)
            headers = [(b"x-rate-limit-reset-at-utc", reset.encode())]
            return _json(429, {"error": MESSAGES[429]}, headers)
        if isinstance(exc, TaskNotFound):
            return _json(404, {"error": f"Request {exc.task_id} not found"})
        if isinstance(exc, InsufficientCredits):
            return _json(406, {"error": f"{MESSAGES[406]}: {exc.message}"})
        status = {Unauthorized: 401, Maintenance: 503}.get(type(exc), 500)
        return _json(status, {"error": MESSAGES[status]})

    def internal_error(self) -> Answer:
        return _json(500, {"error": MESSAGES[500]})

    # ---- reading requests ----------------------------------------------------------------------
    async def _read(self, call: Call) -> Received:
        """The body as fields and uploads; SegmindError when it cannot be read."""
        ctype = Headers(scope=call.scope).get("content-type", "").split(";")[0].strip().lower()
        form = ctype in FORM_TYPES
        limit = max(self.fake.settings.max_body_bytes, MAX_FORM_BYTES if form else 0)
        raw = await read_body(call.scope, call.receive, limit, self.fake.settings.body_timeout_s)
        if raw is None:
            raise SegmindError(413)
        if form:
            return await self._form(call.scope, raw)
        body = parse_json(raw)
        if not is_json(body):
            raise SegmindError(400, "Request body is not valid JSON")
        if not isinstance(body, dict):
            raise SegmindError(422, "Request body must be a JSON object")
        return Received(body, {}, False)

    async def _form(self, scope: Scope, raw: bytes) -> Received:
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        fields: dict[str, Any] = {}
        uploads: dict[str, bytes] = {}
        try:
            async with Request(scope, receive).form(max_files=8, max_fields=64) as form:
                for name, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        data = await value.read()
                        if name in IMAGE_FIELDS:
                            uploads[name] = data
                            fields[name] = f"(file {value.filename or name}, {len(data)} bytes)"
                    elif name == "seed" and value in ("", "null"):
                        fields[name] = None  # a form's spelling of "no seed"
                    elif name == "seed" and (number := ascii_int(value, signed=True)) is not None:
                        fields[name] = number
                    else:
                        fields[name] = value
        except (HTTPException, MultiPartException, ValueError, UnicodeDecodeError) as exc:
            why = exc.detail if isinstance(exc, HTTPException) else str(exc)
            raise SegmindError(400, f"Request body is not readable form data: {why}") from None
        return Received(fields, uploads, True)

    def _problem(self, received: Received) -> str | None:
        """Why the fields break the model's schema, or None."""
        check = self.form_check if received.form else self.json_check
        if check.is_valid(received.fields):
            return None
        return check.violations(received.fields)[0].message

    def _account(self, call: Call) -> Any:
        if call.api_key is None:
            raise SegmindError(401, MISSING_KEY)
        return self.fake.authenticate(call.api_key)

    def _request(self, call: Call) -> tuple[Task, int]:
        """The caller's v2 request, while its status is kept (an hour from submission), and
        the time it was read at (one moment for the whole answer)."""
        account = self._account(call)
        request_id = str(call.scope["path_params"]["requestId"])
        call.task_id = request_id
        now = self.fake.clock.now_ms()
        task = self.fake.owned(account, request_id, now, NAME)
        if now > task.created_ms + _RESULT_TTL_MS:
            raise TaskNotFound(request_id)
        return task, now

    # ---- handlers --------------------------------------------------------------------------------
    async def _order(self, call: Call, endpoint: str) -> tuple[Any, Received, str | None]:
        """What v1 and v2 do before they differ: read the body, apply faults, authenticate,
        count the request toward the rate limit, and say why the fields break the schema."""
        received = await self._read(call)
        prompt = _text(received.fields, "prompt")
        call.fault = await self.fake.gate(NAME, endpoint, call.api_key, SLUG, prompt)
        account = self._account(call)
        self.fake.admit(NAME, account)
        return account, received, self._problem(received)

    async def generate(self, call: Call) -> Any:
        account, received, problem = await self._order(call, "generate")
        if problem is not None:
            raise SegmindError(422, problem)
        manual = self.fake.clock.mode == "manual"
        task = await self.fake.create_task(
            account, order_of(received, duration_s=0.0 if manual else None)
        )
        call.task_id = task.task_id
        while (left := task.complete_ms - self.fake.clock.now_ms()) > 0:
            await anyio.sleep(min(left, 500) / 1000)
            self.fake.fresh()  # the clock may have been moved meanwhile
        if task.failure is not None:
            code = ascii_int(task.failure.code) or 500
            raise SegmindError(code if 400 <= code <= 599 else 500, task.failure.msg)
        image = self.fake.image(task, 0, "jpeg")
        seed = received.fields.get("seed")
        seed = seed if isinstance(seed, int) else 100 + task.image_key % 999_900
        headers = [
            (b"x-remaining-credits", str(dollars(self.fake.credit(account))).encode()),
            (b"x-cost", str(dollars(task.credits)).encode()),
            (b"x-generation-time", f"{(task.complete_ms - task.created_ms) / 1000:g}".encode()),
            (b"x-request-id", task.task_id.encode()),
            (b"x-seed-value", str(seed).encode()),
        ]
        return Answer(200, image, b"image/jpeg", code=200, headers=headers)

    async def submit(self, call: Call) -> Any:
        account, received, problem = await self._order(call, "submit")
        if problem is None:
            order = order_of(received)
        else:
            quick = INVALID_FAILS_IN_S * self.fake.settings.time_scale
            try:
                order = order_of(received, duration_s=quick, failure=Failure("422", problem))
            except TypeError:  # orjson cannot write it back (nested over 255 deep)
                raise SegmindError(422, problem) from None
        task = await self.fake.create_task(account, order)
        call.task_id = task.task_id
        return records.submitted(self.fake.settings.base_url, task.task_id)

    def _ended(self, body: dict[str, Any]) -> Any:
        return _json(422, body) if body["status"] == "FAILED" else body

    async def status(self, call: Call) -> Any:
        call.fault = await self.fake.gate(NAME, "status", call.api_key)
        task, now = self._request(call)
        stage = self.fake.stage(task, now)

        def render() -> Any:
            return self._ended(records.status(task, stage, self.fake.settings.base_url))

        return self._kept_status.of(task, stage.terminal, render)

    async def result(self, call: Call) -> Any:
        call.fault = await self.fake.gate(NAME, "result", call.api_key)
        task, now = self._request(call)
        stage = self.fake.stage(task, now)

        def render() -> Any:
            output = self.fake.result_urls(task) if stage is Stage.SUCCEEDED else []
            body = records.result(task, stage, self.fake.settings.base_url, output)
            return self._ended(body)

        return self._kept_result.of(task, stage.terminal, render)

    async def user_credits(self, call: Call) -> Any:
        call.fault = await self.fake.gate(NAME, "userCredits", call.api_key)
        return {"credits": dollars(self.fake.credit(self._account(call))), "free-credits": 0.0}
