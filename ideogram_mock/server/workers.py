"""`serve --workers N`: uvicorn's supervisor, starting workers that accept eagerly (see
`accept.py`) and share the listening socket without one of them taking a whole burst.

The supervisor makes its worker processes by the name `Process` of its module (uvicorn 0.51
on); `eager_workers()` points that name at `EagerProcess` in the supervisor's process, which
is `serve`'s own. A worker's process object reaches the worker pickled, as an `EagerProcess`,
and builds its server there.
"""

from __future__ import annotations

import uvicorn
from uvicorn.supervisors import multiprocess

from ideogram_mock.server.accept import EagerServer


class EagerProcess(multiprocess.Process):
    """One worker of uvicorn's supervisor, serving with a shared-socket `EagerServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            from ideogram_mock.server.cli import worker_settings  # (in the worker process)

            timeout = worker_settings().body_timeout_s
            self._server = EagerServer(config=self.config, shared=True, head_timeout_s=timeout)
        return self._server


def eager_workers() -> None:
    """Make uvicorn's supervisor, in this process, start `EagerProcess` workers."""
    multiprocess.Process = EagerProcess  # type: ignore[misc]
