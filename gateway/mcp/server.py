"""The MCP server, whatever its transport: the tools, the resources, and one rendering.

A transport hands in ``enter``: the services and the caller of the request being served
(streamable HTTP: the key of the request's ``Authorization`` header; stdio: the process's key).
Every tool call then runs the same steps: enter, check the tool's scope, run the operation,
render its answer as the envelope. A refusal of any kind, authentication included, is a tool
result with ``isError`` that carries the envelope and its code, never a protocol error; an
unexpected failure is logged and answered 9001, never with its trace.
"""

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.shared.exceptions import McpError
from pydantic import AnyUrl
from starlette.requests import Request

from ..callers import Caller, require_scope
from ..services import Services
from ..values.catalogue import code_entries
from ..values.codes import Code
from ..values.outcome import ApiError, Outcome
from .tools import TOOLS, by_name

__all__ = ["CODES_URI", "GUIDE_URI", "Enter", "Guide", "build_server", "result_of"]

log = logging.getLogger(__name__)

# The services and caller of the request being served; raises ApiError to refuse it.
Enter = Callable[[Request | None], Awaitable[tuple[Services, Caller]]]
# The agents' guide (``/llms.txt``'s text).
Guide = Callable[[Request | None], str]

CODES_URI = "aitopup://codes"
GUIDE_URI = "aitopup://llms.txt"
REPLAYED = "idempotent_replayed"  # in a result's _meta, as REST's Idempotent-Replayed header

_INSTRUCTIONS = (
    "aiTopUp gateway: send prepaid LLM credits (Claude, ChatGPT, Gemini) to a recipient. "
    "send_topup needs an idempotency_key: retry with the same one and no money moves twice. "
    "Every result is the REST API's JSON envelope; `code` is the stable answer (the catalogue "
    f"is the resource {CODES_URI}, the guide {GUIDE_URI})."
)


def _version() -> str:
    try:
        return version("aitopup")
    except PackageNotFoundError:  # pragma: no cover - a checkout run without installing
        return "0"


def result_of(answer: Outcome) -> types.CallToolResult:
    """The envelope as structured content, its JSON text beside it (the same bytes REST sends)."""
    body, replayed = answer.body(), answer.replayed
    text = body.render().decode()
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structuredContent=json.loads(text),
        isError=not body.success,
        _meta={REPLAYED: True} if replayed else None,
    )


async def call_tool(
    enter: Enter, request: Request | None, name: str, arguments: dict[str, Any]
) -> types.CallToolResult:
    try:
        svc, caller = await enter(request)
        spec = by_name(name)
        if spec is None:
            raise ApiError(Code.ROUTE_NOT_FOUND, f"No such tool: {name[:100]}")
        if spec.scope is not None:
            require_scope(caller, spec.scope)
        answer = await spec.run(svc, caller, arguments)
    except ApiError as refused:
        answer = refused.outcome()
    except Exception:
        log.exception("mcp tool failed", extra={"tool": name[:100]})
        answer = Outcome(Code.INTERNAL_ERROR)
    return result_of(answer)


def _codes_json() -> str:
    """What ``GET /api/public/v1/codes`` answers."""
    body = Outcome(Code.SUCCESS, [e.model_dump() for e in code_entries()]).body()
    return body.render().decode()


_RESOURCES = [
    types.Resource(
        uri=AnyUrl(CODES_URI),
        name="codes",
        title="The code catalogue",
        description="Every code an envelope can carry, as GET /api/public/v1/codes answers.",
        mimeType="application/json",
    ),
    types.Resource(
        uri=AnyUrl(GUIDE_URI),
        name="guide",
        title="The agents' guide",
        description="The gateway's guide for agents, as GET /llms.txt serves it.",
        mimeType="text/plain",
    ),
]


def build_server(enter: Enter, guide: Guide) -> Server[Any, Request]:
    server: Server[Any, Request] = Server("aitopup", _version(), instructions=_INSTRUCTIONS)
    tools = [spec.tool() for spec in TOOLS]

    def request() -> Request | None:
        found = server.request_context.request
        return found if isinstance(found, Request) else None

    # The mcp library's decorators are unannotated (and some of their factories too): each
    # ignore below is theirs.
    @server.list_tools()  # type: ignore[no-untyped-call, untyped-decorator]
    async def list_tools() -> list[types.Tool]:
        return tools

    # The server's own check of the input schema is off: the models validate, so a bad
    # argument gets the envelope and its code, as the REST route's body does.
    @server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
    async def call(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        return await call_tool(enter, request(), name, arguments)

    @server.list_resources()  # type: ignore[no-untyped-call, untyped-decorator]
    async def list_resources() -> list[types.Resource]:
        return _RESOURCES

    @server.read_resource()  # type: ignore[no-untyped-call, untyped-decorator]
    async def read_resource(uri: AnyUrl) -> Iterable[ReadResourceContents]:
        if str(uri) == CODES_URI:
            return [ReadResourceContents(_codes_json(), "application/json")]
        if str(uri) == GUIDE_URI:
            return [ReadResourceContents(guide(request()), "text/plain")]
        raise McpError(types.ErrorData(code=types.INVALID_PARAMS, message="No such resource"))

    return server
