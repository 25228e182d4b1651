"""The `ideogram-mock` command: `serve` runs the fake (more subcommands join it)."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import gc
import ipaddress
import logging
import os
import pickle
import socket
import sys
from collections.abc import Sequence
from typing import Any

from ideogram_mock import __version__
from ideogram_mock.providers import PROVIDERS, selected
from ideogram_mock.server import logs
from ideogram_mock.settings import (
    ENV_PREFIX,
    SERVE_STORE,
    RateLimit,
    Settings,
    from_env,
    from_toml,
)
from ideogram_mock.stores.base import StoreUnavailable

# How `serve --workers N` hands its settings to the worker processes it starts.
WORKER_SETTINGS = "_IDEOGRAM_MOCK_WORKER_SETTINGS"
WORKER_LOG = "_IDEOGRAM_MOCK_WORKER_LOG"


class _QuietDrops(logging.Filter):
    """uvicorn reports the connections a `drop` fault closes on purpose; that is not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


def _serve_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the fake (the default command)",
        description=(
            "Run the fake. Every flag has an environment variable "
            f"{ENV_PREFIX}<FLAG> (e.g. {ENV_PREFIX}TIME_SCALE for --time-scale). Precedence: "
            "flags, then environment variables, then --config, then the defaults shown."
        ),
    )
    p.add_argument(
        "--config",
        help="a TOML file of settings (keys are flag names, top level or under [serve])",
    )
    p.add_argument(
        "--provider",
        action="append",
        dest="providers",
        help="serve only this provider's API (repeatable; default: every provider: "
        + ", ".join(PROVIDERS)
        + ")",
    )
    p.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--seed", type=int, help="seed for task ids, images and jitter (default 0)")
    p.add_argument(
        "--clock", choices=["real", "manual"], help="manual: time moves only via the control API"
    )
    p.add_argument(
        "--time-scale", type=float, dest="time_scale", help="multiply task durations (0 = instant)"
    )
    p.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        help="accept this key (repeatable); none = any non-empty bearer key is its own account",
    )
    p.add_argument("--public-url", dest="public_url", help="base of the URLs the fake hands out")
    p.add_argument(
        "--webhook-hmac-key", dest="webhook_hmac_key", help="sign callbacks with this key"
    )
    p.add_argument(
        "--rate-limit",
        dest="rate_limit",
        help="createTask limit per key: N/S, or off (default 20/10)",
    )
    p.add_argument("--credits", type=int, help="credits each account starts with (default 100000)")
    p.add_argument(
        "--no-admin", action="store_false", dest="admin", default=None, help="no control API"
    )
    p.add_argument(
        "--http-status",
        choices=["envelope", "mirror"],
        dest="http_status",
        help="envelope: errors as HTTP 200 (default); mirror: HTTP status = code",
    )
    p.add_argument(
        "--unknown-task",
        choices=["live", "docs"],
        dest="unknown_task",
        help='live: 422 "recordInfo is null" (default); docs: 404 "Task not found"',
    )
    p.add_argument(
        "--image-format",
        choices=["png", "jpeg", "webp"],
        dest="image_format",
        help="format of result files (default png; Segmind's v1 answer is always jpeg)",
    )
    p.add_argument("--result-ttl", type=float, dest="result_ttl_s", help="result URL lifetime, s")
    p.add_argument(
        "--record-delay",
        type=float,
        dest="record_delay_s",
        help='seconds after creation during which recordInfo says "recordInfo is null"',
    )
    p.add_argument(
        "--callback-hosts",
        dest="callback_hosts",
        help="hosts callbacks may go to, comma-separated; '*' = any (default: loopback only)",
    )
    p.add_argument(
        "--callback-retries",
        type=int,
        dest="callback_retries",
        help="retries after a failed callback (default 2)",
    )
    p.add_argument(
        "--callback-backoff",
        type=float,
        dest="callback_backoff_s",
        help="seconds before the first retry, doubling (default 5)",
    )
    p.add_argument(
        "--callback-timeout",
        type=float,
        dest="callback_timeout_s",
        help="seconds a callback may take (default 15)",
    )
    p.add_argument(
        "--callback-concurrency",
        type=int,
        dest="callback_concurrency",
        help="callback attempts in flight at once",
    )
    p.add_argument(
        "--callback-per-host",
        type=int,
        dest="callback_per_host",
        help="of which one receiver host may hold at most this many (a hanging receiver "
        "cannot starve the others)",
    )
    p.add_argument(
        "--fetch-inputs",
        action="store_true",
        dest="fetch_inputs",
        default=None,
        help="download input images and fail tasks whose media kie would refuse",
    )
    p.add_argument(
        "--strict-fields",
        action="store_true",
        dest="strict_fields",
        default=None,
        help="refuse fields a kie body does not declare with 422 (default: ignore them, "
        "journaled as a warning)",
    )
    p.add_argument(
        "--fetch-hosts",
        dest="fetch_hosts",
        help="hosts --fetch-inputs may download from, comma-separated; '*' = any "
        "(default: loopback only)",
    )
    p.add_argument(
        "--admin-token",
        dest="admin_token",
        help="require this token (Authorization: Bearer …, or X-Admin-Token) on /_mock calls",
    )
    p.add_argument(
        "--signing-key",
        dest="signing_key",
        help="secret that signs result and asset links (default: random per process)",
    )
    p.add_argument(
        "--download-ttl",
        type=float,
        dest="download_ttl_s",
        help="lifetime of a link from kie's download-url, s",
    )
    p.add_argument(
        "--retention",
        type=float,
        dest="retention_s",
        help="seconds of fake time a task is kept after it ends before it is evicted "
        "(Segmind's v2 requests: an hour, as documented)",
    )
    p.add_argument(
        "--journal-size",
        type=int,
        dest="journal_size",
        help="entries kept in each journal (requests, callbacks)",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        dest="max_body_bytes",
        help="largest JSON body accepted (larger: 413)",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        dest="body_timeout_s",
        help="seconds a request head, and then its body, may take to arrive in full; a slower "
        "one is dropped (the connection closed)",
    )
    p.add_argument(
        "--store",
        help="where state lives: memory, sqlite:///PATH (survives restarts; several workers "
        "on one host) or redis://HOST:PORT/DB (several hosts) "
        f"(default {SERVE_STORE}, in the working directory)",
    )
    p.add_argument(
        "--workers",
        type=int,
        help="worker processes sharing the store (needs sqlite or redis; default 1)",
    )
    _show_defaults(p)
    p.add_argument(
        "--log-format",
        choices=["json", "text"],
        default="json",
        help="one line per request and callback attempt, as JSON or text (default json)",
    )
    p.add_argument("--quiet", action="store_true", help="no request or callback lines")
    p.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="uvicorn's log level",
    )


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Each setting's help ends with its default (from Settings itself, so it cannot drift),
    unless the help already states it."""
    defaults = Settings()
    fields = {f.name for f in dataclasses.fields(Settings)}
    for action in parser._actions:
        if action.dest not in fields or action.help is None or "default" in action.help:
            continue
        value = getattr(defaults, action.dest)
        if isinstance(value, bool):
            continue
        if isinstance(value, tuple):
            value = ",".join(value) or "none"
        shown = "off" if value is None else value
        action.help += f" (default {shown})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ideogram-mock",
        description="A fake of the Ideogram Character API as its resellers serve it (kie.ai, "
        "Segmind, Scenario). Without a command, `serve` runs.",
    )
    parser.add_argument("--version", action="version", version=f"ideogram-mock {__version__}")
    sub = parser.add_subparsers(dest="command")
    _serve_parser(sub)
    from ideogram_mock.kit import drift

    drift.add_parser(sub)
    return parser


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ideogram_mock.server.accept import EagerServer
    from ideogram_mock.server.app import create_app

    overrides = {
        k: v
        for k, v in vars(args).items()
        if k not in ("command", "log_level", "config", "log_format", "quiet") and v is not None
    }
    for name in ("callback_hosts", "fetch_hosts"):
        if isinstance(overrides.get(name), str):
            overrides[name] = tuple(h.strip() for h in overrides[name].split(",") if h.strip())
    for name in ("api_keys", "providers"):
        if name in overrides:
            overrides[name] = tuple(overrides[name])
    try:
        if isinstance(overrides.get("rate_limit"), str):
            overrides["rate_limit"] = RateLimit.parse(overrides["rate_limit"])
        base = from_toml(args.config) if args.config else {}
        base.setdefault("store", SERVE_STORE)  # `serve` keeps its state unless told not to
        settings = from_env(None, base, **overrides)
        served = selected(settings.providers)
    except (ValueError, OSError) as exc:
        print(f"ideogram-mock: {exc}", file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        print(
            f"ideogram-mock: cannot listen on {settings.host}:{settings.port}: {exc}",
            file=sys.stderr,
        )
        return 2
    settings = settings.replace(port=sock.getsockname()[1])
    try:
        app = create_app(settings)
    except (ValueError, OSError, StoreUnavailable) as exc:
        print(f"ideogram-mock: cannot open the store {settings.store}: {exc}", file=sys.stderr)
        return 2
    logs.configure(args.log_format, args.quiet)
    for provider in served:
        print(
            f"ideogram-mock: {provider.name:<8} {settings.base_url}{provider.entry}",
            flush=True,
        )
    if not settings.public_url and settings.host in ("0.0.0.0", "::", ""):
        print(
            f"ideogram-mock: note: bound to {settings.host}; the URLs it hands out use "
            f"{settings.base_url} (pass --public-url for clients on other machines)",
            file=sys.stderr,
            flush=True,
        )
    if settings.admin:
        print(f"ideogram-mock: control  {settings.base_url}/_mock/clock", flush=True)
        if not settings.admin_token and not _loopback(settings.host):
            print(
                f"ideogram-mock: WARNING: the control API (reset, accounts, every key's "
                f"prompts) is open to the network on {settings.host} with no --admin-token",
                file=sys.stderr,
                flush=True,
            )
    print(
        f"ideogram-mock: clock {settings.clock}, time scale {settings.time_scale:g}, "
        f"rate limit {settings.rate_limit or 'off'}, errors as {settings.http_status}",
        flush=True,
    )
    print(
        f"ideogram-mock: state in {app.state.fake.store.location}"
        + (f", {settings.workers} workers" if settings.workers > 1 else ""),
        flush=True,
    )
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    if settings.workers > 1:
        return _serve_workers(settings, sock, args)
    # Everything built so far (specs, validators) lives as long as the process: keep it out
    # of every future collection.
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(app, log_level=args.log_level, lifespan="on", access_log=False)
    EagerServer(config, head_timeout_s=settings.body_timeout_s).run(sockets=[sock])
    return 0


def _serve_workers(settings: Settings, sock: socket.socket, args: argparse.Namespace) -> int:
    """N uvicorn worker processes on one listening socket and one store; each builds its own
    app from the settings handed down in the environment (see `worker_app`)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from ideogram_mock.server.workers import eager_workers

    eager_workers()  # each worker accepts eagerly too (see accept.py)
    os.environ[WORKER_SETTINGS] = base64.b64encode(pickle.dumps(settings)).decode()
    os.environ[WORKER_LOG] = f"{args.log_format}:{int(args.quiet)}"
    config = uvicorn.Config(
        "ideogram_mock.server.cli:worker_app",
        factory=True,
        workers=settings.workers,
        log_level=args.log_level,
        lifespan="on",
        access_log=False,
    )
    Multiprocess(config, sockets=[sock]).run()
    return 0


def _die_with_parent() -> None:
    """On Linux, end this worker when its supervisor dies, even by SIGKILL (else the workers
    would go on holding the port and the store, orphaned)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def worker_settings() -> Settings:
    """The settings the supervisor handed its workers (in a worker process)."""
    settings: Settings = pickle.loads(base64.b64decode(os.environ[WORKER_SETTINGS]))
    return settings


def worker_app() -> Any:
    """One worker's app (uvicorn calls this in each worker process)."""
    from ideogram_mock.server.app import create_app

    _die_with_parent()
    settings = worker_settings()
    fmt, _, quiet = os.environ.get(WORKER_LOG, "json:0").partition(":")
    logs.configure(fmt, quiet == "1")
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    return app


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Flags without a command are serve's (`ideogram-mock --port 9000`).
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["serve", *argv]
    args = parser.parse_args(argv)
    from ideogram_mock.kit import drift

    commands = {"serve": serve, "drift": drift.main}
    return commands[args.command](args)
