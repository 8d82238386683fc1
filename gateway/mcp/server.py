"""The MCP server, whatever its transport: the tools, the resources, and one rendering.

A transport hands in ``enter``: the services and the caller of the request being served
(streamable HTTP: the key of the request's ``Authorization`` header; stdio: the process's key).
Every tool call then runs the same steps: enter, check the tool's scope, run the operation,
render its answer as the envelope. A refusal of any kind, authentication included, is a tool
result with ``isError`` that carries the envelope and its code, never a protocol error; any
other failure gets REST's code for it (``ops.outage.failure_outcome``: a store that did not
answer 9002 or 9003), an unexpected one logged and answered 9001, never with its trace. Over
streamable HTTP a call beyond the credential's scopes never gets here: the door answers it
first, with the HTTP scope challenge an OAuth client steps up on (``http``); the check here is
stdio's, and holds whatever reaches it.
"""

import json
import logging
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mcp import MCPError, types
from mcp.server import Server, ServerRequestContext
from mcp.server.lowlevel import NotificationOptions
from mcp.server.models import InitializationOptions
from starlette.requests import Request

from ..callers import Caller, require_scope
from ..ops.outage import failure_outcome, logged
from ..protocols import paid, registry
from ..services import Services
from ..values.catalogue import code_entries
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from .tools import TOOLS, by_name

__all__ = ["CODES_URI", "GUIDE_URI", "Enter", "Guide", "build_server", "result_of"]

log = logging.getLogger(__name__)

# The services and caller of the request being served; raises ApiError to refuse it.
Enter = Callable[[Request | None], Awaitable[tuple[Services, Caller]]]
# The agents' guide (``/llms.txt``'s text).
Guide = Callable[[Request | None], str]


class _PayingServer(Server[Any]):
    """The SDK's server, its ``initialize`` result advertising the payment protocols spoken
    over MCP in ``capabilities.experimental`` (``registry.mcp_capability``) on every
    transport: stdio passes these options, and streamable HTTP's session manager asks the
    server for them."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        experimental = {**registry.mcp_capability(), **(experimental_capabilities or {})}
        return super().create_initialization_options(notification_options, experimental, extensions)


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


def result_of(answer: Outcome, meta: dict[str, Any] | None = None) -> types.CallToolResult:
    """The envelope as structured content, its JSON text beside it (the same bytes REST sends);
    ``meta``: what the result's ``_meta`` carries besides (a payment's receipt)."""
    body, replayed = answer.body(), answer.replayed
    text = body.render().decode()
    meta = {**(meta or {}), **({REPLAYED: True} if replayed else {})}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=json.loads(text),
        is_error=not body.success,
        _meta=meta or None,
    )


async def call_tool(
    enter: Enter,
    request: Request | None,
    name: str,
    arguments: dict[str, Any],
    meta: dict[str, Any] | None = None,
) -> types.CallToolResult:
    """``meta``: the call's ``_meta``, where a payment's credential comes (``protocols``); a
    refusal for funds that carries an offer spoken over MCP is the JSON-RPC error
    ``-32042``, raised (``paid.mcp_refusal``)."""
    receipt = None
    try:
        svc, caller = await enter(request)
        spec = by_name(name)
        if spec is None:
            raise ApiError(Code.ROUTE_NOT_FOUND, f"No such tool: {name[:100]}")
        if spec.scope is not None:
            require_scope(caller, spec.scope)
        if spec.pays is not None:
            presenting = registry.presented_in_meta(meta)
            answered = await spec.pays(svc, caller, arguments, presenting)
            required = paid.mcp_refusal(answered)
            if required is not None:
                raise MCPError(*required)
            answer, receipt = answered.outcome, paid.receipt_meta(answered)
        else:
            answer = await spec.run(svc, caller, arguments)
    except ApiError as refused:
        answer = refused.outcome()
    except MCPError:
        raise
    except Exception as exc:
        answer = failure_outcome(exc)
        if answer.code == Code.INTERNAL_ERROR:
            log.exception("mcp tool failed", extra={"tool": name[:100]})
        logged(exc, answer)
    return result_of(answer, receipt)


def _codes_json() -> str:
    """What ``GET /api/public/v1/codes`` answers."""
    body = Outcome(Code.SUCCESS, [e.model_dump() for e in code_entries()]).body()
    return body.render().decode()


_RESOURCES = [
    types.Resource(
        uri=CODES_URI,
        name="codes",
        title="The code catalogue",
        description="Every code an envelope can carry, as GET /api/public/v1/codes answers.",
        mime_type="application/json",
    ),
    types.Resource(
        uri=GUIDE_URI,
        name="guide",
        title="The agents' guide",
        description="The gateway's guide for agents, as GET /llms.txt serves it.",
        mime_type="text/plain",
    ),
]


def _request(ctx: ServerRequestContext[Any, Any]) -> Request | None:
    """The HTTP request being served (None over stdio)."""
    return ctx.request if isinstance(ctx.request, Request) else None


def build_server(enter: Enter, guide: Guide) -> Server[Any]:
    tools = types.ListToolsResult(tools=[spec.tool() for spec in TOOLS])
    resources = types.ListResourcesResult(resources=_RESOURCES)

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return tools

    # The server checks no input schema: the models validate, so a bad argument gets the
    # envelope and its code, as the REST route's body does.
    async def call(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        meta = dict(params.meta) if params.meta else None
        return await call_tool(enter, _request(ctx), params.name, params.arguments or {}, meta)

    async def list_resources(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return resources

    async def read_resource(
        ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        if params.uri == CODES_URI:
            text, mime_type = _codes_json(), "application/json"
        elif params.uri == GUIDE_URI:
            text, mime_type = guide(_request(ctx)), "text/plain"
        else:
            raise MCPError(types.INVALID_PARAMS, "No such resource")
        contents = types.TextResourceContents(uri=params.uri, text=text, mime_type=mime_type)
        return types.ReadResourceResult(contents=[contents])

    return _PayingServer(
        "aitopup",
        version=_version(),
        instructions=_INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )
