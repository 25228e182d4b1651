"""The control API (`/_mock/…`) and the `/files/…` routes that serve generated images."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ideogram_mock.core.engine import Fake
from ideogram_mock.core.errors import ControlError
from ideogram_mock.core.files import EXTENSIONS
from ideogram_mock.core.images import MEDIA_TYPES
from ideogram_mock.core.journal import as_json
from ideogram_mock.core.timeline import state_at
from ideogram_mock.providers.kie import envelope
from ideogram_mock.server.httpio import is_json, parse_json, read_body
from ideogram_mock.server.routes import Endpoint
from ideogram_mock.server.spec import Operation

log = logging.getLogger("ideogram_mock")
Handler = Callable[[Request, Operation], Awaitable[Any]]
MEDIA_BY_EXT = {ext: MEDIA_TYPES[fmt] for fmt, ext in EXTENSIONS.items()}


class Control:
    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    def handlers(self) -> dict[str, Handler]:
        return {
            "mockReset": self.reset,
            "mockSettings": self.settings,
            "mockClock": self.clock,
            "mockClockAdvance": self.clock_advance,
            "mockListTasks": self.list_tasks,
            "mockGetTask": self.get_task,
            "mockFinishTask": self.finish_task,
            "mockListFaults": self.list_faults,
            "mockAddFault": self.add_fault,
            "mockClearFaults": self.clear_faults,
            "mockDeleteFault": self.delete_fault,
            "mockSetMaintenance": self.set_maintenance,
            "mockListCallbacks": self.list_callbacks,
            "mockListRequests": self.list_requests,
            "mockListAccounts": self.list_accounts,
            "mockPutAccount": self.put_account,
            "downloadFile": self.download_file,
        }

    async def _body(self, request: Request, op: Operation) -> Any:
        raw = await read_body(request, self.fake.settings.max_body_bytes)
        if raw is None:
            raise ControlError(413, "request body is too large")
        body = parse_json(raw)
        if not is_json(body):
            raise ControlError(400, "request body is not valid JSON")
        if op.body is not None:
            rejection = op.body.reject(body)
            if rejection is not None:
                raise ControlError(422, rejection.msg, rejection.field or None)
        return body

    def _clock(self, delivered: int | None = None) -> dict[str, Any]:
        now = self.fake.clock.now_ms()
        out: dict[str, Any] = {
            "mode": self.fake.clock.mode,
            "nowMs": now,
            "now": datetime.fromtimestamp(now / 1000, UTC).isoformat().replace("+00:00", "Z"),
            "timeScale": self.fake.settings.time_scale,
        }
        if delivered is not None:
            out["delivered"] = delivered
        return out

    async def reset(self, request: Request, op: Operation) -> Any:
        self.fake.reset()
        return {"ok": True}

    async def settings(self, request: Request, op: Operation) -> Any:
        return self.fake.settings.as_dict()

    async def clock(self, request: Request, op: Operation) -> Any:
        return self._clock()

    async def clock_advance(self, request: Request, op: Operation) -> Any:
        body = await self._body(request, op)
        return self._clock(await self.fake.advance(float(body["seconds"])))

    async def list_tasks(self, request: Request, op: Operation) -> Any:
        key = request.query_params.get("apiKey")
        state = request.query_params.get("state")
        now = self.fake.clock.now_ms()
        tasks = [
            self.fake.task_view(t)
            for t in self.fake.store
            if (key is None or t.api_key == key) and (state is None or state_at(t, now) == state)
        ]
        return {"count": len(tasks), "tasks": tasks}

    async def get_task(self, request: Request, op: Operation) -> Any:
        return self.fake.task_view(self.fake.task(request.path_params["taskId"]))

    async def finish_task(self, request: Request, op: Operation) -> Any:
        return self.fake.task_view(await self.fake.finish(request.path_params["taskId"]))

    async def list_faults(self, request: Request, op: Operation) -> Any:
        return {"faults": [r.as_json() for r in self.fake.rules.all()]}

    async def add_fault(self, request: Request, op: Operation) -> Any:
        rule = self.fake.rules.add(await self._body(request, op))
        return 201, rule.as_json()

    async def clear_faults(self, request: Request, op: Operation) -> Any:
        return {"ok": True, "removed": self.fake.rules.clear()}

    async def delete_fault(self, request: Request, op: Operation) -> Any:
        rule_id = request.path_params["ruleId"]
        if not self.fake.rules.delete(rule_id):
            raise ControlError(404, f"no rule {rule_id}", "ruleId")
        return {"ok": True, "removed": 1}

    async def set_maintenance(self, request: Request, op: Operation) -> Any:
        body = await self._body(request, op)
        self.fake.rules.maintenance = bool(body["enabled"])
        return {"enabled": self.fake.rules.maintenance}

    async def list_callbacks(self, request: Request, op: Operation) -> Any:
        task_id = request.query_params.get("taskId")
        attempts = [
            as_json(a) for a in self.fake.callbacks if task_id is None or a.taskId == task_id
        ]
        return {"pending": self.fake.dispatcher.pending, "attempts": attempts}

    async def list_requests(self, request: Request, op: Operation) -> Any:
        op_id = request.query_params.get("operationId")
        entries = [
            as_json(e) for e in self.fake.requests if op_id is None or e.operationId == op_id
        ]
        return {"requests": entries}

    async def list_accounts(self, request: Request, op: Operation) -> Any:
        now = self.fake.clock.now_ms()
        return {"accounts": [_account(a, now) for a in self.fake.accounts.all()]}

    async def put_account(self, request: Request, op: Operation) -> Any:
        body = await self._body(request, op)
        account = self.fake.accounts.put(request.path_params["apiKey"], body.get("credits"))
        return _account(account, self.fake.clock.now_ms())

    async def download_file(self, request: Request, op: Operation) -> Any:
        name = request.path_params["name"]
        data = self.fake.file(request.path_params["taskId"], name, request.url.query)
        media = MEDIA_BY_EXT[name.rsplit(".", 1)[-1]]
        return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=60"})

    def wrap(self, op: Operation, handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                rejection = op.reject_query(request.query_params)
                if rejection is not None:
                    raise ControlError(422, rejection.msg, rejection.field or None)
                result = await handler(request, op)
            except ControlError as exc:
                return envelope.control_error(exc.status, exc.error, exc.field)
            except Exception:
                log.exception("unexpected error in %s", op.operation_id)
                return envelope.control_error(500, "internal error in the fake; see its log")
            if isinstance(result, Response):
                return result
            status, data = result if isinstance(result, tuple) else (200, result)
            return envelope.json_response(orjson.dumps(data), status)

        return endpoint


def _account(account: Any, now_ms: int) -> dict[str, Any]:
    return {"apiKey": account.api_key, "credits": account.balance(now_ms), "tasks": account.tasks}
