"""The `ideogram-mock` command: `serve` runs the fake (more subcommands join it)."""

from __future__ import annotations

import argparse
import gc
import ipaddress
import logging
import socket
import sys
from collections.abc import Sequence
from typing import Any

from ideogram_mock.providers import PROVIDERS, selected
from ideogram_mock.settings import ENV_PREFIX, RateLimit, from_env


class _QuietDrops(logging.Filter):
    """uvicorn reports the connections a `drop` fault closes on purpose; that is not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


def _serve_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the fake kie.ai server",
        description=f"Run the fake. Every flag has an environment variable {ENV_PREFIX}<NAME>.",
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
    p.add_argument("--image-format", choices=["png", "jpeg", "webp"], dest="image_format")
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
    p.add_argument("--callback-retries", type=int, dest="callback_retries")
    p.add_argument("--callback-backoff", type=float, dest="callback_backoff_s")
    p.add_argument("--callback-timeout", type=float, dest="callback_timeout_s")
    p.add_argument(
        "--fetch-inputs",
        action="store_true",
        dest="fetch_inputs",
        default=None,
        help="download input images and fail tasks whose media kie would refuse",
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
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ideogram-mock", description="A fake of the kie.ai Ideogram Character jobs API."
    )
    sub = parser.add_subparsers(dest="command")
    _serve_parser(sub)
    from ideogram_mock.kit import drift

    drift.add_parser(sub)
    return parser


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ideogram_mock.server.app import create_app

    overrides = {
        k: v for k, v in vars(args).items() if k not in ("command", "log_level") and v is not None
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
        settings = from_env(**overrides)
        served = selected(settings.providers)
    except ValueError as exc:
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
    app = create_app(settings)
    # Everything built so far (specs, validators) lives as long as the process: keep it out
    # of every future collection.
    gc.collect()
    gc.freeze()
    logging.getLogger("uvicorn.error").addFilter(_QuietDrops())
    for provider in served:
        print(
            f"ideogram-mock: {provider.name:<8} {settings.base_url}{provider.entry}",
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
    config = uvicorn.Config(app, log_level=args.log_level, lifespan="on", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve", *(argv or sys.argv[1:])])
    from ideogram_mock.kit import drift

    commands = {"serve": serve, "drift": drift.main}
    return commands[args.command](args)
