"""A tool call answered without the SDK's per-request session: the adapter over its transport.

In stateless JSON mode the SDK serves every POST with a fresh transport, a server session and
their tasks and streams (about 1 ms of CPU a request, as much as the send itself), though a
``tools/call`` needs none of them: one JSON-RPC request in, one response out. So such a POST is
answered here, with the SDK's own models for the request and the response and its own checks of
the headers, and everything else (initialize, lists, resources, notifications, a request with
``_meta``, any header the SDK would refuse) goes to the SDK untouched, the body replayed.
``tests/gateway/mcp/test_fastpath.py`` holds this path's replies to the SDK's, byte for byte
but the envelope's timestamp, and fails when the library moves.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from mcp import types
from mcp.shared.version import SUPPORTED_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.types import Message, Receive, Scope, Send

__all__ = ["Call", "answer_tool_call"]

_JSON = "application/json"
_VERSION_HEADER = "mcp-protocol-version"

# Runs the named tool with its arguments; the result the server's handler would return.
Call = Callable[[str, dict[str, Any]], Awaitable[types.CallToolResult]]


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _takes(headers: dict[str, str]) -> bool:
    """The SDK's own checks (``StreamableHTTPServerTransport``) would all pass."""
    content_type = headers.get("content-type", "").split(";")[0]
    if _JSON not in (part.strip() for part in content_type.split(",")):
        return False
    accepts = (media.strip() for media in headers.get("accept", "").split(","))
    if not any(media.startswith(_JSON) for media in accepts):
        return False
    version = headers.get(_VERSION_HEADER)
    return version is None or version in SUPPORTED_PROTOCOL_VERSIONS


def _tool_call(body: bytes) -> types.JSONRPCRequest | None:
    try:
        raw = json.loads(body)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("method") != "tools/call":
        return None
    params = raw.get("params")
    if not isinstance(params, dict) or "_meta" in params:
        return None
    try:
        request = types.JSONRPCRequest.model_validate(raw)
        types.CallToolRequest.model_validate({"method": request.method, "params": params})
    except ValidationError:
        return None
    return request


async def _read(receive: Receive, limit: int) -> tuple[list[Message], bytes, bool]:
    """The messages read, the body, and whether it is whole and within ``limit``."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, b"", False
        size += len(message.get("body", b""))
        if size > limit:
            return messages, b"", False
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages), True


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


async def answer_tool_call(
    scope: Scope, receive: Receive, send: Send, *, limit: int, call: Call
) -> Receive | None:
    """Answer a plain ``tools/call`` POST and return ``None``; otherwise return the receive to
    hand the SDK with the request (whatever was read of its body is replayed)."""
    if scope["method"] != "POST" or not _takes(_headers(scope)):
        return receive
    messages, body, whole = await _read(receive, limit)
    request = _tool_call(body) if whole else None
    if request is None:
        return _replaying(messages, receive)
    params = request.params or {}
    result = await call(params["name"], params.get("arguments") or {})
    response = types.JSONRPCResponse(
        jsonrpc="2.0",
        id=request.id,
        result=result.model_dump(by_alias=True, mode="json", exclude_none=True),
    )
    payload = response.model_dump_json(by_alias=True, exclude_none=True).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", _JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
    return None
