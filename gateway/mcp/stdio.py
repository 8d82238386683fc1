"""MCP over stdio (``aitopup mcp``): the same server, for an agent that starts the gateway's
tools as a local process.

The key comes from ``AITOPUP_API_KEY`` and is authenticated on every tool call, as a request's
key is (``auth.authenticate_key``: the lockout, the key's own limits, then
``callers.authenticate``), so a key revoked while the process runs is refused from its next
call. The store, Redis and the sealing key come from the settings, as the gateway's do, and a
send's deliveries wake the worker after its commit, as the gateway's do.
Standard output carries the protocol alone: logs go to standard error.
"""

import os
import sys
from collections.abc import Callable

from mcp.server.stdio import stdio_server
from starlette.requests import Request

from ..auth import authenticate_key
from ..callers import Caller
from ..ops import collector
from ..services import Services, open_services
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.settings import Settings
from .server import build_server

__all__ = ["KEY_VARIABLE", "serve"]

KEY_VARIABLE = "AITOPUP_API_KEY"


async def serve(settings: Settings, key: str | None, guide: Callable[[], str]) -> None:
    """Serve MCP on standard input and output until the client closes them. ``guide`` makes the
    agent's guide (``/llms.txt``) when first asked: the app's routes it describes are above this
    door, so whoever starts the process supplies it."""
    pepper = settings.key_pepper.get_secret_value().encode()
    # Failures count against this process alone, not every local client of the same Redis.
    client = f"stdio:{os.getpid()}"
    if not key:
        print(f"aitopup mcp: {KEY_VARIABLE} is unset: every tool call is refused", file=sys.stderr)
    text: list[str] = []

    async with open_services(settings) as svc:
        collector.started()  # as the gateway's app does

        async def enter(request: Request | None) -> tuple[Services, Caller]:
            if not key:
                raise ApiError(Code.AUTH_MISSING, f"Missing API key: set {KEY_VARIABLE}")
            return svc, await authenticate_key(svc, pepper, key, client)

        def guide_text(request: Request | None) -> str:
            if not text:
                text.append(guide())
            return text[0]

        server = build_server(enter, guide_text)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
