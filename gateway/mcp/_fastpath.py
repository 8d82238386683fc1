"""A tool call answered without the SDK's per-request session: the adapter over its transport.

In stateless JSON mode the SDK serves every POST with a fresh transport, a connection, a
dispatcher and their tasks and streams (as much CPU a request as the send itself:
docs/performance.md, "Figures behind the code's choices"), though a ``tools/call`` needs none of
them: one JSON-RPC request in, one response out. So such a POST is answered here, with the SDK's
own models and per-version checks for the request and the result (``mcp.types.methods``) and its
own checks of the headers, and everything else (initialize, lists, resources, notifications, a
request with ``_meta``, a request of the 2026 era, any header the SDK would refuse) goes to the
SDK untouched, the body replayed. The body reaches here read and decoded under the gateway's body
rules (``http.McpHttp``). ``tests/gateway/mcp/test_fastpath.py`` holds this path's replies to the
SDK's, byte for byte but the envelope's timestamp, and fails when the library moves.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mcp import MCPError, types
from mcp.server.streamable_http import check_accept_headers
from mcp.types.methods import serialize_server_result, validate_client_request
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from .headers import JSON, headers_of, json_content

__all__ = ["Call", "answer_tool_call", "replaying", "takes"]

log = logging.getLogger(__name__)

_VERSION_HEADER = "mcp-protocol-version"
_METHOD = "tools/call"

# Runs the named tool with its arguments; the result the server's handler would return.
Call = Callable[[str, dict[str, Any]], Awaitable[types.CallToolResult]]


def takes(scope: Scope) -> bool:
    """A POST whose headers the SDK's own checks (``StreamableHTTPServerTransport``) would all
    pass, served on its stateless path of the handshake era."""
    if scope["method"] != "POST" or not json_content(headers_of(scope)):
        return False
    has_json, _ = check_accept_headers(Request(scope))
    return has_json and _version(scope) is not None


def _version(scope: Scope) -> str | None:
    """The protocol version the SDK's stateless path of the handshake era serves the request at
    (its default without the header); None when the request is not that path's (a version of
    the 2026 era, or one the SDK does not know: its other path answers those)."""
    version = headers_of(scope).get(_VERSION_HEADER)
    if version is None:
        return types.DEFAULT_NEGOTIATED_VERSION
    return version if version in HANDSHAKE_PROTOCOL_VERSIONS else None


def _tool_call(raw: Any, version: str) -> tuple[types.JSONRPCRequest, types.CallToolRequestParams]:
    """The request and its params, as the SDK reads and checks them; raises ValueError (a
    ``ValidationError`` included) or KeyError when the SDK should answer it."""
    if not isinstance(raw, dict) or raw.get("method") != _METHOD:
        raise ValueError("not a tool call")
    params = raw.get("params")
    if not isinstance(params, dict) or "_meta" in params:
        raise ValueError("not a plain tool call")
    request = types.jsonrpc_message_adapter.validate_python(raw, by_name=False)
    if not isinstance(request, types.JSONRPCRequest):
        raise ValueError("not a request")
    validate_client_request(_METHOD, version, params)
    return request, types.CallToolRequestParams.model_validate(params, by_name=False)


async def answer_tool_call(decoded: Any, scope: Scope, send: Send, *, call: Call) -> bool:
    """Answer ``decoded``, the body of a POST that ``takes``, if it is a plain ``tools/call``;
    ``False`` leaves the request to the SDK."""
    version = _version(scope)
    if version is None:
        return False
    try:
        request, params = _tool_call(decoded, version)
    except (ValueError, KeyError):
        return False
    answer: types.JSONRPCResponse | types.JSONRPCError
    try:
        result = await call(params.name, params.arguments or {})
    except MCPError as raised:
        # A protocol error the tool raised (MPP's -32042), answered as the SDK answers one.
        answer = types.JSONRPCError(jsonrpc="2.0", id=request.id, error=raised.error)
        result = None
    try:
        if result is not None:
            dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
            answer = types.JSONRPCResponse(
                jsonrpc="2.0",
                id=request.id,
                result=serialize_server_result(_METHOD, version, dumped),
            )
    except ValidationError:
        # What the SDK answers a handler's result its protocol version cannot carry.
        log.exception("tools/call returned an invalid result")
        error = types.ErrorData(
            code=types.INTERNAL_ERROR, message="Handler returned an invalid result"
        )
        answer = types.JSONRPCError(jsonrpc="2.0", id=request.id, error=error)
    payload = answer.model_dump_json(by_alias=True, exclude_unset=True).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
    return True


def replaying(body: bytes, receive: Receive) -> Receive:
    """The body read once, handed on whole; then whatever the client sends next."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
