"""Scenario's API over the core: assets (uploaded images and job outputs) with signed URLs on
the fake, the generate call, jobs and their cancel, and `{"message": …}` for every refusal."""

from __future__ import annotations

import base64
import binascii
import io
import math
from dataclasses import dataclass
from typing import Any

import orjson
from PIL import Image
from starlette.types import Scope

from ideogram_mock.core import images
from ideogram_mock.core.engine import Fake, Order
from ideogram_mock.core.errors import (
    DomainError,
    InsufficientCredits,
    InvalidInput,
    Maintenance,
    RateLimited,
    Scripted,
    TaskNotFound,
    Unauthorized,
)
from ideogram_mock.core.images import MEDIA_TYPES, sniff
from ideogram_mock.core.numbers import ascii_int
from ideogram_mock.core.sizes import ASPECT_RATIOS, parse_size
from ideogram_mock.core.tasks import Stage, Task
from ideogram_mock.providers.scenario import records
from ideogram_mock.providers.scenario.dialect import base62
from ideogram_mock.providers.scenario.models import (
    CREDITS,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_SPEED,
    MAX_UPLOAD_BYTES,
    MESSAGES,
    MODEL,
    NAME,
    SPEEDS,
    UPLOAD_FORMATS,
    URL_TTL_S,
)
from ideogram_mock.server.ended import EndedAnswers
from ideogram_mock.server.endpoint import Answer, Call, Handler
from ideogram_mock.server.httpio import is_json, parse_json, query, read_body

# A base64 image of just under 6 MB, plus the JSON around it.
MAX_UPLOAD_BODY = MAX_UPLOAD_BYTES * 4 // 3 + 65_536


class ScenarioError(DomainError):
    """A refusal only Scenario's dialect makes: an HTTP status, a message, maybe the field."""

    def __init__(self, status: int, message: str | None = None, field: str | None = None) -> None:
        self.status = status
        super().__init__(message if message is not None else MESSAGES.get(status, "Error"), field)


@dataclass(frozen=True)
class Stored:
    """An uploaded asset: its owner, what it is, and where its bytes are."""

    asset_id: str
    api_key: str
    name: str
    fmt: str
    width: int
    height: int
    size: int
    created_ms: int
    blob: int


def _json(status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None) -> Answer:
    return Answer(status, orjson.dumps(body), code=status, headers=headers)


def _error(status: int, message: str, field: str | None = None) -> Answer:
    body = {"message": message, **({"field": field} if field else {})}
    return _json(status, body)


def _record_key(asset_id: str) -> int:
    return images.key_of("scenario-asset", asset_id)


class ScenarioApi:
    """Scenario's API over the core."""

    name = NAME

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self._ended = EndedAnswers(self.answer)

    def handlers(self) -> dict[str, Handler]:
        return {
            "uploadAsset": self.upload_asset,
            "getAsset": self.get_asset,
            "generate": self.generate,
            "getJob": self.get_job,
            "jobAction": self.job_action,
            "assetContent": self.asset_content,
        }

    # ---- the one place that renders Scenario's answers ---------------------------------------
    def api_key(self, scope: Scope) -> str | None:
        """The key part of `Basic base64(key:secret)`, or a Bearer token."""
        for name, value in scope["headers"]:
            if name != b"authorization":
                continue
            scheme, _, rest = value.decode("latin-1").strip().partition(" ")
            rest = rest.strip()
            if scheme.lower() == "bearer":
                return rest or None
            if scheme.lower() != "basic":
                return None
            try:
                decoded = base64.b64decode(rest, validate=True).decode("utf-8")
            except ValueError:  # not base64 (non-ASCII too: a ValueError), or not UTF-8
                return None
            key, colon, secret = decoded.partition(":")
            return key if key and colon and secret else None
        return None

    def answer(self, result: Any) -> Answer:
        return _json(200, result)

    def refuse(self, exc: DomainError) -> Answer:
        if isinstance(exc, ScenarioError):
            return _error(exc.status, exc.message, exc.field)
        if isinstance(exc, Scripted):
            return _error(exc.code, exc.message or MESSAGES.get(exc.code, "Error"))
        if isinstance(exc, RateLimited):
            seconds = max(1, math.ceil(exc.retry_after_ms / 1000))
            headers = [
                (b"retry-after", str(seconds).encode()),
                (b"retry-after-ms", str(exc.retry_after_ms).encode()),
            ]
            return _json(429, {"message": MESSAGES[429]}, headers)
        if isinstance(exc, TaskNotFound):
            return _error(404, f"Job {exc.task_id} not found", "jobId")
        if isinstance(exc, InvalidInput):
            return _error(400, exc.message, exc.field)
        status = {Unauthorized: 401, InsufficientCredits: 402, Maintenance: 503}.get(type(exc), 500)
        return _error(status, MESSAGES[status])

    def internal_error(self) -> Answer:
        return _error(500, MESSAGES[500])

    # ---- helpers -------------------------------------------------------------------------------
    async def _body(self, call: Call, limit: int) -> Any:
        raw = await read_body(
            call.scope,
            call.receive,
            max(self.fake.settings.max_body_bytes, limit),
            self.fake.settings.body_timeout_s,
        )
        if raw is None:
            raise ScenarioError(413)
        body = parse_json(raw)
        if not is_json(body):
            raise ScenarioError(400, "The request body is not valid JSON")
        return body

    def _check(self, call: Call, body: Any) -> None:
        assert call.op.body is not None
        rejection = call.op.body.reject(body)
        if rejection is not None:
            raise ScenarioError(400, rejection.msg, rejection.field or None)

    def _account(self, call: Call) -> Any:
        return self.fake.authenticate(call.api_key)

    def _stored(self, asset_id: str) -> Stored | None:
        raw = self.fake.store.get_blob(_record_key(asset_id))
        return Stored(**orjson.loads(raw)) if raw is not None else None

    def _url(self, asset_id: str, ext: str) -> str:
        expires = (self.fake.clock.now_ms() // 1000) + URL_TTL_S
        sig = self.fake.files.sign(f"asset:{asset_id}", expires)
        base = self.fake.settings.base_url
        return f"{base}/cdn/{asset_id}/{expires}/{sig}/content.{ext}"

    def _output(self, asset_id: str) -> tuple[Task, int] | None:
        """The job and index behind an output asset id, when it names one."""
        suffix, _, raw_index = asset_id.removeprefix("asset_").rpartition("_")
        index = ascii_int(raw_index)
        if not suffix or index is None:
            return None
        task = self.fake.store.get(f"job_{suffix}")
        if (
            task is None
            or task.provider != NAME
            or index >= task.num_images
            or not self.fake.kept(task)
        ):
            return None
        return task, index

    def _view(self, asset_id: str, api_key: str) -> dict[str, Any]:
        """An asset of this key's, as the API shows it (404 otherwise)."""
        stored = self._stored(asset_id)
        if stored is not None and stored.api_key == api_key:
            return records.asset(
                asset_id=asset_id,
                api_key=api_key,
                created_ms=stored.created_ms,
                mime=UPLOAD_FORMATS[stored.fmt],
                width=stored.width,
                height=stored.height,
                size=stored.size,
                url=self._url(asset_id, "jpg" if stored.fmt == "jpeg" else stored.fmt),
                kind="uploaded",
                name=stored.name,
            )
        output = self._output(asset_id)
        if output is not None:
            task, index = output
            if task.api_key == api_key and self.fake.stage(task) is Stage.SUCCEEDED:
                data = self.fake.image(task, index)
                fmt = self.fake.settings.image_format
                return records.asset(
                    asset_id=asset_id,
                    api_key=api_key,
                    created_ms=task.complete_ms,
                    mime=MEDIA_TYPES[fmt],
                    width=task.size[0],
                    height=task.size[1],
                    size=len(data),
                    url=self._url(asset_id, self.fake.files.ext),
                    kind="img2img" if task.edit is not None else "txt2img",
                    job_id=task.task_id,
                )
        raise ScenarioError(404, f"Asset {asset_id} not found", "assetId")

    def _input(self, api_key: str, body: dict[str, Any], field: str) -> bytes | None:
        """The bytes of an input asset of the caller's; 404 naming the field otherwise."""
        asset_id = body.get(field)
        if asset_id is None:
            return None
        stored = self._stored(asset_id)
        if stored is not None and stored.api_key == api_key:
            return self.fake.store.get_blob(stored.blob)
        output = self._output(asset_id)
        if output is not None:
            task, index = output
            if task.api_key == api_key and self.fake.stage(task) is Stage.SUCCEEDED:
                return self.fake.image(task, index)
        raise ScenarioError(404, f"Asset {asset_id} not found ({field})", field)

    # ---- assets --------------------------------------------------------------------------------
    async def upload_asset(self, call: Call) -> Any:
        body = await self._body(call, MAX_UPLOAD_BODY)
        call.fault = await self.fake.gate(NAME, "uploadAsset", call.api_key)
        account = self._account(call)
        self._check(call, body)
        data = _decode(body["image"])
        picture = sniff(data)
        if picture is None or picture.fmt not in UPLOAD_FORMATS:
            formats = ", ".join(UPLOAD_FORMATS)
            raise ScenarioError(400, f"image must be a {formats} image", "image")
        blob = images.key_of("blob", images.digest(data))
        now = self.fake.clock.now_ms()
        self.fake.store.put_blob(blob, data, now)
        asset_id = "asset_" + base62(self.fake.unique_bits("asset-ids"), 22)
        stored = Stored(
            asset_id=asset_id,
            api_key=account.api_key,
            name=str(body["name"]),
            fmt=picture.fmt,
            width=picture.width,
            height=picture.height,
            size=len(data),
            created_ms=now,
            blob=blob,
        )
        self.fake.store.put_blob(_record_key(asset_id), orjson.dumps(stored.__dict__), now)
        return {"asset": self._view(asset_id, account.api_key)}

    async def get_asset(self, call: Call) -> Any:
        call.fault = await self.fake.gate(NAME, "getAsset", call.api_key)
        account = self._account(call)
        return {"asset": self._view(str(call.scope["path_params"]["assetId"]), account.api_key)}

    async def asset_content(self, call: Call) -> Any:
        asset_id = str(call.scope["path_params"]["assetId"])
        params = call.scope["path_params"]
        expires, sig = ascii_int(str(params["expires"])), str(params["sig"])
        if expires is None or not self.fake.files.signed(f"asset:{asset_id}", expires, sig):
            raise ScenarioError(403, "The link's signature does not match")
        if self.fake.clock.now_ms() // 1000 > expires:
            raise ScenarioError(410, "The link has expired")
        stored = self._stored(asset_id)
        if stored is not None:
            data = self.fake.store.get_blob(stored.blob)
            mime = UPLOAD_FORMATS[stored.fmt]
        else:
            output = self._output(asset_id)
            if output is None or self.fake.stage(output[0]) is not Stage.SUCCEEDED:
                raise ScenarioError(404, f"Asset {asset_id} not found")
            data = self.fake.image(*output)
            mime = MEDIA_TYPES[self.fake.settings.image_format]
        if data is None:
            raise ScenarioError(404, f"Asset {asset_id} not found")
        return Answer(200, data, mime.encode(), code=200)

    # ---- generate and jobs --------------------------------------------------------------------
    async def generate(self, call: Call) -> Any:
        body = await self._body(call, 0)
        prompt = body.get("prompt") if isinstance(body, dict) else None
        prompt = prompt if isinstance(prompt, str) else None
        call.fault = await self.fake.gate(NAME, "generate", call.api_key, MODEL, prompt)
        account = self._account(call)
        self.fake.admit(NAME, account)
        self._check(call, body)
        rejection = call.op.reject_query(query(call.scope))
        if rejection is not None:
            raise ScenarioError(400, rejection.msg, rejection.field or None)
        if ("image" in body) != ("mask" in body):
            raise ScenarioError(400, "image and mask go together (inpainting)", "mask")
        speed = body.get("renderingSpeed", DEFAULT_SPEED)
        cost = CREDITS[speed]
        estimate = {
            "creativeUnitsCost": cost,
            "creativeUnitsDiscount": 0,
            "costDetails": {"custom-generation": cost},
        }
        if query(call.scope).get("dryRun"):
            return _json(269, estimate)
        reference = self._input(account.api_key, body, "characterReferenceImage")
        image = self._input(account.api_key, body, "image")
        mask = self._input(account.api_key, body, "mask")
        edit = (image, _fit(mask, image)) if image is not None and mask is not None else None
        resolution = body.get("resolution", "None")
        ratio = body.get("aspectRatio", DEFAULT_ASPECT_RATIO)
        size = parse_size(resolution) if resolution != "None" else ASPECT_RATIOS[ratio]
        order = Order(
            provider=NAME,
            model=MODEL,
            prompt=body["prompt"],
            request=orjson.dumps(body).decode(),
            cost=cost,
            speed=SPEEDS[speed],
            size=None if edit is not None else size,
            default_size=size,
            seed=body.get("seed"),
            reference=body["characterReferenceImage"] if reference is None else None,
            reference_bytes=reference,
            edit_bytes=edit,
        )
        task = await self.fake.create_task(account, order)
        call.task_id = task.task_id
        return {"job": records.job(task, self.fake.clock.now_ms()), **estimate}

    def _job(self, call: Call, now_ms: int | None = None) -> Task:
        account = self._account(call)
        call.task_id = str(call.scope["path_params"]["jobId"])
        return self.fake.owned(account, call.task_id, now_ms, NAME)

    async def get_job(self, call: Call) -> Any:
        call.fault = await self.fake.gate(NAME, "getJob", call.api_key)
        now = self.fake.clock.now_ms()  # (read once: one moment for the whole answer)
        task = self._job(call, now)
        # An ended job reads the same from its end on: rendered once (see `EndedAnswers`).
        return self._ended.of(
            task, now >= task.complete_ms, lambda: {"job": records.job(task, now)}
        )

    async def job_action(self, call: Call) -> Any:
        body = await self._body(call, 0)
        call.fault = await self.fake.gate(NAME, "jobAction", call.api_key)
        task = self._job(call)
        self._check(call, body)
        stage = self.fake.stage(task)
        if stage.terminal:
            status = records.history(task, self.fake.clock.now_ms())[-1][1]
            raise ScenarioError(400, f"Job {task.task_id} has already ended ({status})", "action")
        canceled = self.fake.cancel(task)
        return {"job": records.job(canceled, self.fake.clock.now_ms(), "Canceled by the user")}


def _decode(text: str) -> bytes:
    """The bytes of a base64 image (a `data:` URL too); 400 when it is not one or too big."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    if len(text) > MAX_UPLOAD_BYTES * 4 // 3 + 4:
        raise ScenarioError(400, "image must be under 6 MB (use /v1/uploads for more)", "image")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ScenarioError(400, "image is not valid base64", "image") from None
    if len(data) >= MAX_UPLOAD_BYTES:
        raise ScenarioError(400, "image must be under 6 MB (use /v1/uploads for more)", "image")
    return data


def _fit(mask: bytes, image: bytes) -> bytes:
    """The mask resized to the image's size, as Scenario does (PNG)."""
    target, found = sniff(image), sniff(mask)
    if (
        target is None
        or found is None
        or (found.width, found.height)
        == (
            target.width,
            target.height,
        )
    ):
        return mask
    with Image.open(io.BytesIO(mask)) as picture:
        resized = picture.convert("L").resize((target.width, target.height))
        out = io.BytesIO()
        resized.save(out, "PNG")
        return out.getvalue()
