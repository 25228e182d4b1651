"""In-process fakes served from httpx's own transports.

While a fake is attached, `httpx.HTTPTransport.handle_request` and
`httpx.AsyncHTTPTransport.handle_async_request` (the transports every `httpx.Client` and
`httpx.AsyncClient` sends through, proxies included) hand a request for one of its origins to
the fake: one dictionary lookup, and no httpcore, respx or pattern matching on the way. Any
other request goes on to the original method, so respx routes (the fixture's own router, or a
test's `respx.mock`), which patch httpcore one level down, still see it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import httpx

Origin = tuple[str, str, int]
SyncHandler = Callable[[httpx.HTTPTransport, httpx.Request], httpx.Response]
AsyncHandler = Callable[
    [httpx.AsyncHTTPTransport, httpx.Request], Coroutine[Any, Any, httpx.Response]
]


class Served(Protocol):
    """What answers the requests for an attached origin; `root` is the path of the base URL
    the request came by ("" for a whole host)."""

    def serve_sync(self, request: httpx.Request, root: str) -> httpx.Response: ...

    async def serve_async(self, request: httpx.Request, root: str) -> httpx.Response: ...


def origin_of(url: httpx.URL) -> Origin:
    scheme = url.scheme
    return scheme, url.host, url.port or (443 if scheme == "https" else 80)


def base_key(base: str) -> tuple[Origin, str]:
    """A base URL as the table knows it: its origin, and its path with a final "/" (however
    the URL spells its host, port and trailing slash)."""
    url = httpx.URL(base)
    return origin_of(url), url.path.rstrip("/") + "/"


class _Table:
    """Attached fakes by origin (each with the path prefix it serves, and whether the origin is
    one of its own or one it serves besides), and the patch itself: applied with the first
    fake, undone with the last."""

    def __init__(self) -> None:
        # origin → [(path prefix, 0 for the fake's own origin or 1 for another, the fake)]
        self.by_origin: dict[Origin, list[tuple[str, int, Served]]] = {}
        self.lock = threading.Lock()
        self.originals: tuple[SyncHandler, AsyncHandler] | None = None
        self.ours: tuple[SyncHandler, AsyncHandler] | None = None

    def attach(
        self, served: Served, base_urls: tuple[str, ...], own: tuple[str, ...] | None = None
    ) -> None:
        """Send requests for `base_urls` to `served`. `own`: those of them that are its
        provider's own (all by default); on the others it yields to a fake whose own they are
        (a kie fake serves Segmind's paths too, but not in place of a Segmind fake)."""
        own_keys = None if own is None else {base_key(base) for base in own}
        with self.lock:
            for base in base_urls:
                origin, prefix = key = base_key(base)
                rank = 0 if own_keys is None or key in own_keys else 1
                entries = self.by_origin.get(origin, [])
                if not any(s is served and p == prefix for p, _, s in entries):
                    # The longest base URL first (a fake on `/kie` before one on the whole
                    # host); then the fake whose own origin it is; among equals, the first
                    # attached. A new list: `find` reads the old one meanwhile, unlocked.
                    self.by_origin[origin] = sorted(
                        [*entries, (prefix, rank, served)],
                        key=lambda entry: (-len(entry[0]), entry[1]),
                    )
            self._patch()

    def detach(self, served: Served) -> None:
        with self.lock:
            for key in list(self.by_origin):
                kept = [entry for entry in self.by_origin[key] if entry[2] is not served]
                if kept:
                    self.by_origin[key] = kept
                else:
                    del self.by_origin[key]
            if not self.by_origin:
                self._unpatch()

    def find(self, url: httpx.URL) -> tuple[Served, str] | None:
        """Who serves this URL, and the path of the base URL it came by."""
        entries = self.by_origin.get(origin_of(url))
        if entries:
            path = url.path
            for prefix, _, served in entries:
                if path.startswith(prefix):
                    return served, prefix[:-1]
        return None

    @property
    def patched(self) -> bool:
        return self.originals is not None

    def _patch(self) -> None:
        if self.originals is not None:
            return
        sync_original = httpx.HTTPTransport.handle_request
        async_original = httpx.AsyncHTTPTransport.handle_async_request
        find = self.find

        def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
            found = find(request.url)
            if found is None:
                return sync_original(self, request)
            return found[0].serve_sync(request, found[1])

        async def handle_async_request(
            self: httpx.AsyncHTTPTransport, request: httpx.Request
        ) -> httpx.Response:
            found = find(request.url)
            if found is None:
                return await async_original(self, request)
            return await found[0].serve_async(request, found[1])

        self.originals = (sync_original, async_original)
        self.ours = (handle_request, handle_async_request)
        httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
        httpx.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]

    def _unpatch(self) -> None:
        if self.originals is None or self.ours is None:
            return
        sync_original, async_original = self.originals
        # Someone who patched over us after we did keeps their patch (and calls ours, which
        # then finds nothing attached and calls the original).
        if httpx.HTTPTransport.handle_request is self.ours[0]:
            httpx.HTTPTransport.handle_request = sync_original  # type: ignore[method-assign, assignment]
        if httpx.AsyncHTTPTransport.handle_async_request is self.ours[1]:
            httpx.AsyncHTTPTransport.handle_async_request = async_original  # type: ignore[method-assign, assignment]
        self.originals = self.ours = None


TABLE = _Table()
attach = TABLE.attach
detach = TABLE.detach
