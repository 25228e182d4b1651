"""Between schemathesis and the kit: its cases sent through the kit's client, its checks run on
answers seen as the HTTP status convention in force would have them."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
from schemathesis import Case
from schemathesis.core.failures import FailureGroup
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import ignored_auth

from ideogram_mock.kit.cases import describe, to_request
from ideogram_mock.kit.findings import BREAKING, Finding
from ideogram_mock.kit.kie.session import OPERATIONS, KitSession

__all__ = ["EXCLUDED", "as_seen", "judge", "to_request"]

# ignored_auth re-sends requests through schemathesis's own transport, past the kit's client
# (and, in-process, to the real host): the kit checks authentication itself (test_auth_*).
EXCLUDED = [ignored_auth]
# kie answers a well-formed request for something that is not there with 422: an unknown taskId
# ("recordInfo is null", seen live; the spec's x-observed) or a URL that is not a kie file (the
# docs). It means "not found", and schemathesis should judge it so (valid data, absent thing).
NOT_FOUND = {"/api/v1/jobs/recordInfo", "/api/v1/common/download-url"}


def as_seen(response: httpx.Response) -> Response:
    """schemathesis's view of an answer. Under the envelope convention an error is shown with
    its `code` as the HTTP status, so its status-based checks (negative data rejected, required
    parameters, …) judge what the API meant, not the transport's 200."""
    seen = Response.from_httpx(response, verify=True)
    try:
        body = response.json()
        code = body.get("code")
    except (ValueError, AttributeError):
        return seen
    if response.status_code == 200 and isinstance(code, int) and code != 200:
        if code == 422 and response.request.url.path in NOT_FOUND:
            code = 404
        seen = copy.copy(seen)
        seen.status_code = code
        seen.content = json.dumps({**body, "code": code}).encode()
    return seen


def judge(kit: KitSession, case: Case[Any], response: httpx.Response) -> None:
    """Run the kit's checks and schemathesis's on one answer; record findings; raise on any
    breaking one."""
    request = response.request
    op = OPERATIONS.get((request.method, request.url.path))
    found = kit.check(op, response) if op is not None else []
    kit.findings.extend(found)
    try:
        case.validate_response(as_seen(response), excluded_checks=EXCLUDED)
    except FailureGroup as group:
        for failure in group.exceptions:
            title = getattr(failure, "title", type(failure).__name__)
            first = str(failure).splitlines()[0] if str(failure) else title
            where = op or f"{request.method} {request.url.path}"
            kit.findings.add(Finding(BREAKING, f"check: {title}", where, first, describe(request)))
        raise
    breaking = [f for f in found if f.severity == BREAKING]
    assert not breaking, "; ".join(f"{f.where}: {f.message}" for f in breaking)
