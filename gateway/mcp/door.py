"""The SDK's half of the ``/mcp`` door: the server (``server.build_server``), its stateless
session manager and the tool-call fast path (``_fastpath``). ``http.McpHttp`` imports this module
on the first request a process serves over MCP, and runs the manager (``serve``) in a task of
the app's lifespan from then until the lifespan ends."""

from typing import Any

import anyio
from anyio.abc import TaskStatus
from mcp import types
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.types import Receive, Send

from ._fastpath import answer_tool_call, replaying, takes
from .server import Enter, Guide, build_server, call_tool

__all__ = ["Door"]


class Door:
    """One lifespan's MCP server and the session manager over it."""

    def __init__(self, enter: Enter, guide: Guide, *, max_body_bytes: int) -> None:
        self._enter = enter
        self._manager = StreamableHTTPSessionManager(
            build_server(enter, guide),
            json_response=True,
            stateless=True,
            max_request_body_size=max_body_bytes,
        )

    async def serve(
        self, stop: anyio.Event, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """The manager running (a manager runs once) until ``stop``; started once it runs."""
        async with self._manager.run():
            task_status.started()
            await stop.wait()

    async def answer(
        self, request: Request, body: bytes, decoded: Any, receive: Receive, send: Send
    ) -> None:
        """A request whose ``body`` the gateway read (``decoded``: its JSON, when it is JSON):
        a tool call by the fast path, anything else by the SDK, the body replayed."""
        scope = request.scope

        async def call(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
            return await call_tool(self._enter, request, name, arguments)

        if takes(scope) and await answer_tool_call(decoded, scope, send, call=call):
            return
        await self._manager.handle_request(scope, replaying(body, receive), send)
