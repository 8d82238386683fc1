"""``aitopup serve``, ``listen``, ``mcp`` and ``run``: the processes the command line starts,
and how uvicorn serves the gateway whoever starts it."""

import argparse
import asyncio
import os
import sys
from typing import Any

from keys import InvalidSecret

from ..local_gateway import guess
from ..ops import collector
from ..values.settings import Settings, load_settings

__all__ = ["listen", "mcp", "run", "serve", "server_options"]


def server_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the gateway, whoever starts it: its bounds and the proxy it trusts."""
    from ..ops.deadlines import bounded_protocol  # uvicorn, loaded only by what serves

    return {
        "http": bounded_protocol(
            header_timeout=settings.server_header_timeout_seconds,
            body_timeout=settings.server_body_timeout_seconds,
            max_head_bytes=settings.server_max_head_bytes,
        ),
        "limit_concurrency": settings.server_limit_concurrency,
        "timeout_keep_alive": settings.server_keep_alive_seconds,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "access_log": False,  # the gateway writes its own one-line JSON access log
        "log_config": None,  # uvicorn's records go to the JSON handler too
        # On stop, responses still running (a dashboard's live stream runs up to a minute)
        # get this long to end before their connections are closed.
        "timeout_graceful_shutdown": 10,
    }


def serve(args: argparse.Namespace) -> int:
    """The gateway, in this process (its app imported here, the collector held off until its
    lifespan has started: ``gateway.ops.collector``) or in uvicorn's ``--workers``."""
    with collector.held():
        return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ..app import StartupRefused, check_startup
    from ..ops.logs import configure_logging
    from ..ops.metrics import prepare_multiprocess_dir

    settings = load_settings()
    configure_logging(settings.log_level)
    try:
        check_startup(settings, host=args.host)
    except StartupRefused as exc:
        print(f"aitopup serve: {exc}", file=sys.stderr)
        return 2
    prepare_multiprocess_dir()
    if not settings.public_base_url:
        # Links in mail and replies are built from this, never from a request's Host.
        guess(os.environ, args.host, args.port)
    if args.workers > 1:
        collector.started()  # this process only watches: each of uvicorn's imports the app
    uvicorn.run(
        "gateway.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        **server_options(settings),
    )
    return 0


def listen(args: argparse.Namespace) -> int:
    import uvicorn

    from ..listen import NoSecret, listener_app, read_secret

    if args.secret is not None:
        print(
            "aitopup listen: the secret is not taken on the command line, where anyone on this "
            f"machine can read it; {NoSecret.HOW}",
            file=sys.stderr,
        )
        return 2
    try:
        app = listener_app(read_secret())
    except (NoSecret, InvalidSecret) as exc:
        print(f"aitopup listen: {exc}", file=sys.stderr)
        return 2
    print(f"listening on http://{args.host}:{args.port}/ (verifying with the given secret)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def mcp(args: argparse.Namespace) -> int:
    """MCP on standard input and output (``gateway.mcp.stdio``): the collector held off until it
    has started (``gateway.ops.collector``)."""
    with collector.held():
        return _mcp()


def _mcp() -> int:
    from ..mcp.stdio import KEY_VARIABLE, serve
    from ..ops.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, sys.stderr)  # standard output carries the protocol

    def llms_txt() -> str:
        # The routes /llms.txt is built from; no lifespan is run. Imported when an agent first
        # asks for the guide, not before the process can answer its first call.
        from ..app import create_app
        from ..described import agents_guide

        return agents_guide(create_app(settings).routes)

    asyncio.run(serve(settings, os.environ.get(KEY_VARIABLE), llms_txt))
    return 0


def run(args: argparse.Namespace) -> int:
    """Everything locally (``gateway.devrun``): the collector held off until the processes it
    watches have started (``gateway.ops.collector``)."""
    with collector.held():
        from ..devrun import run

        return run(host=args.host, port=args.port)
