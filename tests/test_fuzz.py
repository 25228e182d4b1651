"""Hypothesis over the raw request path of every provider and the control API: arbitrary
methods, paths, query strings, headers and bodies. Whatever arrives, the fake never answers
500, and every answer on a provider's path conforms to that provider's spec."""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ideogram_mock.server.app import create_app
from tests.conftest import BASE, CONFORMANCE, make_settings

APP = create_app(make_settings(rate_limit=None))


def _send(method: str, path: str, **kwargs: Any) -> httpx.Response | None:
    """The fake's answer; None for a URL or header no HTTP client can send. An exception the
    app raises is not caught: it is a bug (a server would answer it with a 500)."""

    async def send() -> httpx.Response | None:
        transport = httpx.ASGITransport(app=APP)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            try:
                request = client.build_request(method, path, **kwargs)
            except (ValueError, httpx.InvalidURL, httpx.LocalProtocolError):
                return None
            response = await client.send(request)
            await response.aread()
            return response

    return anyio.run(send)


ID = st.one_of(
    st.sampled_from(["a7636d0aee4a996adbe9bb4169567836", "job_x", "asset_x_0", "0", "0.png"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
)
PATHS = st.one_of(
    st.sampled_from(
        [
            "/api/v1/jobs/createTask",
            "/api/v1/jobs/recordInfo",
            "/api/v1/chat/credit",
            "/api/v1/common/download-url",
            "/v1/ideogram-character",
            "/v2/ideogram-character",
            "/v1/get-user-credits",
            "/v1/assets",
            "/v1/generate/custom/model_ideogram-character",
            "/_mock/clock",
            "/_mock/tasks",
            "/_mock/faults",
            "/_mock/requests",
        ]
    ),
    ID.map(lambda i: f"/v2/requests/{i}/status"),
    ID.map(lambda i: f"/v2/requests/{i}"),
    ID.map(lambda i: f"/v1/jobs/{i}"),
    ID.map(lambda i: f"/v1/jobs/{i}/action"),
    ID.map(lambda i: f"/v1/assets/{i}"),
)
NUMBERISH = st.sampled_from(["²", "٣", "nan", "1e400", "-1", "", "99999999999999999999"]) | st.text(
    max_size=10
)
# Signed file links (`/files/{task}/{expires}/{sig}/{name}`): odd numbers in `expires`.
FILES = st.tuples(
    st.sampled_from(["/files", "/cdn"]),
    ID,
    NUMBERISH,
    st.text(alphabet="0123456789abcdef", max_size=8),
    st.sampled_from(["0.png", "0.png\n", "1.jpg", "content.png"]) | ID,
).map(lambda p: "/".join(p))
FILE_QUERY: st.SearchStrategy[dict[str, str]] = st.just({})
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["ideogram/character", "ideogram/character-edit"]) | JSON,
        "input": st.fixed_dictionaries(
            {}, optional={"prompt": st.text(max_size=30), "reference_image_urls": JSON}
        )
        | JSON,
        "prompt": st.sampled_from(["a knight [mock:fail]", "[mock:code=²]", "[mock:seconds=nan]"])
        | JSON,
        "character_reference_image": st.just("http://127.0.0.1:9/a.png") | JSON,
        "characterReferenceImage": JSON,
        "name": JSON,
        "image": JSON,
        "seconds": JSON,
        "action": JSON,
        "url": JSON,
    },
)
BODIES = st.one_of(
    FIELDS.map(lambda d: json.dumps(d).encode()),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.just(b"[" * 300 + b"]" * 300),
)
AUTH = st.sampled_from(
    [
        {},
        {"Authorization": "Bearer k"},
        {"x-api-key": "k"},
        {"Authorization": "Basic " + base64.b64encode(b"k:s").decode()},
        {"Authorization": "Basic ²".encode("latin-1")},  # bytes: httpx sends them as they are
        {"x-api-key": b"\xff\xfe"},
        {"Content-Length": "²".encode("latin-1")},
        {"Content-Type": "multipart/form-data"},
        {"Content-Type": "multipart/form-data; boundary=x"},
    ]
)
QUERY = st.dictionaries(
    st.sampled_from(["taskId", "expires", "sig", "dryRun", "limit", "provider", "state"]),
    NUMBERISH | st.just("true"),
    max_size=3,
)


@settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    target=st.tuples(PATHS, QUERY) | st.tuples(FILES, FILE_QUERY),
    headers=AUTH,
    body=BODIES,
)
def test_fuzz_no_input_gets_a_500_and_provider_answers_conform(
    method: str, target: tuple[str, dict[str, str]], headers: dict[str, str | bytes], body: bytes
) -> None:
    path, query = target
    content = body if method in ("POST", "PUT") else None
    response = _send(method, path, params=query, headers=headers, content=content)
    if response is None:
        return  # a URL or header no HTTP client can send
    assert response.status_code != 500, (method, path, response.text)
    if path.startswith("/_mock") or response.status_code in (404, 405):
        return
    problems = CONFORMANCE.response_problems(
        method,
        response.request.url.path,
        response.status_code,
        response.headers.get("content-type", ""),
        response.content,
    )
    if problems and "not an operation of any spec" in problems[0]:
        return
    assert not problems, (method, path, problems)
