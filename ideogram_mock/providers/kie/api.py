"""kie.ai's jobs API: handlers of a few lines each, translating HTTP into core calls, and the
envelope every answer and error goes out in."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.types import Scope

from ideogram_mock.core.engine import Fake, Order
from ideogram_mock.core.errors import DomainError
from ideogram_mock.core.media import Inputs
from ideogram_mock.providers.kie import KIE, envelope, records
from ideogram_mock.providers.kie.errors import KieError, envelope_error
from ideogram_mock.providers.kie.models import (
    CREDITS_PER_IMAGE,
    DEFAULT_SIZE,
    IMAGE_SIZES,
    NAME,
    SPEEDS,
)
from ideogram_mock.server.ended import EndedAnswers
from ideogram_mock.server.endpoint import Answer, Call, Handler
from ideogram_mock.server.httpio import (
    bearer,
    is_json,
    parse_json,
    query,
    read_body,
    request_json,
)
from ideogram_mock.server.spec import Operation, load_spec

NOT_JSON_MSG = "request body is not valid JSON"


def _peek(body: Any) -> tuple[str | None, str | None]:
    """model and prompt, when the body has them, for rules that match on them."""
    if not isinstance(body, dict):
        return None, None
    model = body.get("model")
    inp = body.get("input")
    prompt = inp.get("prompt") if isinstance(inp, dict) else None
    return (
        model if isinstance(model, str) else None,
        prompt if isinstance(prompt, str) else None,
    )


def order_of(body: dict[str, Any], request: str | None = None) -> Order:
    """A schema-valid createTask body as the core's order (`request`: the body as the task
    keeps it, see `request_json`; by default the body as compact JSON)."""
    inp: dict[str, Any] = body["input"]
    speed = inp.get("rendering_speed", "BALANCED")
    count = int(inp.get("num_images", "1"))
    size = IMAGE_SIZES.get(inp["image_size"]) if "image_size" in inp else None
    if size is None and "image_url" not in inp:
        size = DEFAULT_SIZE
    references = tuple(inp["reference_image_urls"])
    return Order(
        provider=NAME,
        model=body["model"],
        prompt=inp["prompt"],
        request=orjson.dumps(body).decode() if request is None else request,
        cost=CREDITS_PER_IMAGE[speed] * count,
        speed=SPEEDS[speed],
        num_images=count,
        size=size,
        default_size=DEFAULT_SIZE,
        seed=inp.get("seed"),
        reference=references[0] if references else None,
        inputs=Inputs(
            references=references,
            styles=tuple(inp.get("image_urls", ())),
            image=inp.get("image_url"),
            mask=inp.get("mask_url"),
        ),
        callback_url=body.get("callBackUrl") or None,
    )


class KieApi:
    """kie.ai's jobs API over the core."""

    name = NAME

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self.mirror = fake.settings.http_status == "mirror"
        self.unknown_task = fake.settings.unknown_task
        self.strict_fields = fake.settings.strict_fields
        self._ended = EndedAnswers(self.answer)

    @functools.cached_property
    def _strict(self) -> Mapping[str, Operation]:
        """The same spec with undeclared fields refused: it names the unknown fields (refused
        under --strict-fields, journaled as a warning otherwise). Compiled on first use."""
        return load_spec(KIE.spec, strict=True).operations

    def handlers(self) -> dict[str, Handler]:
        return {
            "createTask": self.create_task,
            "getTaskRecord": self.get_task_record,
            "getCredit": self.get_credit,
            "getDownloadUrl": self.get_download_url,
        }

    # ---- the envelope (the one place that renders kie's answers) -----------------------------
    def api_key(self, scope: Scope) -> str | None:
        return bearer(scope)

    def answer(self, result: Any) -> Answer:
        return Answer(200, envelope.ok(result), code=200)

    def refuse(self, exc: DomainError) -> Answer:
        code, msg = envelope_error(exc, self.unknown_task)
        return Answer(code if self.mirror else 200, envelope.error(code, msg), code=code)

    def internal_error(self) -> Answer:
        return Answer(
            500 if self.mirror else 200, envelope.error(500, "Internal server error"), code=500
        )

    # ---- handlers -----------------------------------------------------------------------------
    async def _raw_body(self, call: Call) -> bytes:
        raw = await read_body(
            call.scope,
            call.receive,
            self.fake.settings.max_body_bytes,
            self.fake.settings.body_timeout_s,
        )
        if raw is None:
            raise KieError(413)
        return raw

    async def _json_body(self, call: Call) -> Any:
        return parse_json(await self._raw_body(call))

    def _check_body(self, call: Call, body: Any) -> None:
        if not is_json(body):
            raise KieError(400, NOT_JSON_MSG)
        # The strict variant first: a body it accepts (nearly every one) is validated once.
        strict = self._strict[call.op.operation_id].body
        assert strict is not None and call.op.body is not None
        unknown = strict.reject(body)
        if unknown is None:
            return
        rejection = call.op.body.reject(body)
        if rejection is not None:
            raise KieError(rejection.code, rejection.msg)
        # Only undeclared fields are wrong.
        if self.strict_fields:
            raise KieError(unknown.code, unknown.msg)
        call.warning = f"ignored: {unknown.msg}"

    async def create_task(self, call: Call) -> Any:
        raw = await self._raw_body(call)
        body = parse_json(raw)
        call.fault = await self.fake.gate(NAME, "createTask", call.api_key, *_peek(body))
        account = self.fake.authenticate(call.api_key)
        self.fake.admit(NAME, account)
        self._check_body(call, body)
        task = await self.fake.create_task(account, order_of(body, request_json(body, raw)))
        call.task_id = task.task_id
        return {"taskId": task.task_id}

    async def get_task_record(self, call: Call) -> Any:
        call.fault = await self.fake.gate(NAME, "recordInfo", call.api_key)
        account = self.fake.authenticate(call.api_key)
        params = query(call.scope)
        rejection = call.op.reject_query(params)
        if rejection is not None:
            raise KieError(rejection.code, rejection.msg)
        call.task_id = params["taskId"]
        now = self.fake.clock.now_ms()  # (read once: one moment for the whole answer)
        task = self.fake.owned(account, call.task_id, now, NAME)
        return self._ended.of(
            task,
            now >= task.complete_ms,
            lambda: records.record(task, now, self.fake.result_urls(task)),
        )

    async def get_credit(self, call: Call) -> Any:
        call.fault = await self.fake.gate(NAME, "credit", call.api_key)
        return self.fake.credit(self.fake.authenticate(call.api_key))

    async def get_download_url(self, call: Call) -> Any:
        body = await self._json_body(call)
        call.fault = await self.fake.gate(NAME, "downloadUrl", call.api_key)
        account = self.fake.authenticate(call.api_key)
        self._check_body(call, body)
        return self.fake.download_link(account, body["url"], NAME)
