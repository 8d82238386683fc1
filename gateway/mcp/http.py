"""MCP over streamable HTTP at ``/mcp``, in the gateway's own process and lifespan.

Stateless, with JSON replies: every POST is a whole exchange, so any gateway process can serve
any request and nothing lives between them (scale-out stays "any number of stateless
processes"). Every request must carry ``Authorization: Bearer ak_…``, authenticated by
``auth.authenticate_key`` as the REST door is (the lockout, then ``callers.authenticate``);
a request without a valid key is refused before the MCP server sees it, HTTP 401 (or 429, 400)
with the envelope and its code, as MCP's authorization asks of an HTTP server.

Only POST is served: the server sends nothing unsolicited, so ``GET`` (a stream that would stay
open for as long as the client likes) and every other method get 405 with ``Allow: POST``, as
the transport allows, before the key is even looked at. The transport's defence against DNS
rebinding comes first too: a request with an ``Origin`` header (a browser's) is served only from
an allowed origin (``Settings.mcp_origins``) or the gateway's own (``http://`` one of its
loopback names or the address it was reached on, with the port it serves on), else 403; and a
request whose ``Host`` names a host the gateway is not (its loopback names, the address it was
reached on, ``Settings.mcp_hosts``) gets 421, so a name an attacker rebinds to the gateway's
address reaches nothing. The Host's port is not compared: a proxy may pass the name alone, and
the name is what a rebinding attacker controls. The SDK's own check
(``TransportSecuritySettings``) is not used for it: it wants every Host the gateway is reached
by listed with its port, answers in plain text rather than the envelope, and would not see the
tool calls ``_fastpath`` answers.

A POST's body is then read and decoded under the REST routes' rules (``gateway.values.parsing``: its
size, no repeated key, a bounded depth) before the fast path or the SDK sees it; a body that
breaks one is answered as JSON-RPC answers a body it cannot take, an error whose ``data`` is the
envelope with the rule's code. A ``tools/call`` whose credential lacks the tool's scope is
answered next, before the tool runs: HTTP 403 with the ``insufficient_scope`` challenge
(``auth.insufficient_scope``), as MCP's scope challenge asks, so an OAuth client asks the
person for more and calls again; the body is a JSON-RPC error for the call's id whose ``data``
is the envelope (2301). Over stdio there is no HTTP: the tool's own check answers the envelope
as a refused result (``server.call_tool``).

The SDK (the server, its session manager, the tool-call fast path: ``door``) is imported and
built on the first request to ``/mcp`` a process serves, not as the gateway starts: it is a fifth
of the gateway's import, and a process that is never asked over MCP never needs it. The manager
then runs in a task of the app's lifespan (``running``) until the lifespan ends, as it would have
from the start; every later request finds it built. Its import runs on a thread
(``values.loading``): the request that first needs it waits, and no other does.
"""

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .. import described
from ..apps.schemas import ASKED_BY_DEFAULT
from ..auth import (
    KeyUser,
    authenticate_key,
    challenged,
    door_resource,
    insufficient_scope,
    presented_key,
)
from ..callers import Caller
from ..lockout import client_address
from ..services import Services, services
from ..values.code_names import Code
from ..values.codes import CATALOGUE
from ..values.envelope import SCOPE_CODE, SCOPE_REQUEST_ID, error_response
from ..values.loading import loaded
from ..values.outcome import ApiError
from ..values.parsing import decode_json, read_capped
from ..values.resources import MCP_PATH as MCP_RESOURCE_PATH
from .headers import reads_json

if TYPE_CHECKING:
    from .door import Door

__all__ = ["PATH", "McpHttp"]

PATH = "/mcp"
_CALLER = "aitopup.mcp.caller"
# A body the parser refused, as JSON-RPC names it: one it cannot read, or one it will not take.
_PARSE_CODES = {Code.INVALID_JSON, Code.DUPLICATE_JSON_KEY, Code.JSON_TOO_DEEP}
# The names every gateway answers to, its own machine's.
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
# A Host header: a name or an address, or an IPv6 address in brackets; then an optional port.
_HOST = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+))(?::[0-9]{1,5})?")


def _refusal(
    scope: Scope,
    refused: ApiError,
    request_id: str | int = "server-error",
    *,
    status: int | None = None,
) -> Response:
    """A JSON-RPC error for a request the gateway will not take, the envelope in ``data`` and
    ``refused``'s headers on the reply; its ``id`` is the request's, or ``server-error`` where
    none could be read (the id mcp 1.x gave its own such answers; mcp 2.x gives ``null``).
    ``status``: the HTTP status, the refusal's own unless given."""
    from mcp import types  # a body refused before the SDK was needed

    envelope = refused.outcome().body()
    error = types.JSONRPCError(
        jsonrpc="2.0",
        id=request_id,
        error=types.ErrorData(
            code=types.PARSE_ERROR if refused.code in _PARSE_CODES else types.INVALID_REQUEST,
            message=envelope.message,
            data=json.loads(envelope.render()),  # the bytes REST would send
        ),
    )
    scope[SCOPE_CODE] = refused.code
    headers = dict(refused.headers or {})
    if (rid := scope.get(SCOPE_REQUEST_ID)) is not None:
        headers["X-Request-Id"] = rid
    return Response(
        error.model_dump_json(by_alias=True, exclude_none=True),
        status_code=status or CATALOGUE[refused.code].http_status,
        media_type="application/json",
        headers=headers,
    )


class McpHttp:
    """The ASGI app mounted at ``/mcp``; ``running()`` belongs in the app's lifespan."""

    def __init__(self, pepper: bytes, *, max_body_bytes: int) -> None:
        self._pepper = pepper
        self._max_body_bytes = max_body_bytes
        self._guide: str | None = None
        self._tasks: TaskGroup | None = None
        self._stop = anyio.Event()
        self._building = anyio.Lock()
        self._door: Door | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # A manager runs once: each lifespan of the app (a restart in the same process, a test
        # harness entering it again) gets its own door, built when first asked for.
        self._door, self._stop, self._building = None, anyio.Event(), anyio.Lock()
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                yield
            finally:
                self._tasks = None
                self._stop.set()  # the door's manager stops, and its task with it

    async def _opened(self) -> "Door":
        """The SDK's half of the door, imported, built and running since the first request of
        this lifespan. Once built, a request takes it as it is: no lock, no await."""
        if self._door is not None:
            return self._door
        async with self._building:
            if self._door is None:
                if self._tasks is None:
                    raise RuntimeError("the MCP door serves inside the app's lifespan")
                await loaded(f"{__package__}.door")  # the SDK: off the loop, once
                from .door import Door

                door = Door(self._enter, self._guide_text, max_body_bytes=self._max_body_bytes)
                await self._tasks.start(door.serve, self._stop)
                self._door = door
            return self._door

    async def _enter(self, request: Request | None) -> tuple[Services, Caller]:
        assert request is not None  # every request over HTTP came through __call__
        caller: Caller = request.scope[_CALLER]
        return services(request), caller

    def _guide_text(self, request: Request | None) -> str:
        """``/llms.txt``'s text, built from the routes of the app this runs in, once."""
        if self._guide is None:
            assert request is not None
            self._guide = described.agents_guide(request.app.routes)
        return self._guide

    async def _authenticate(self, conn: HTTPConnection) -> Caller:
        presented = presented_key(conn)
        if presented is None:
            raise ApiError(Code.AUTH_MISSING)
        svc = services(conn)
        resource = door_resource(svc.settings, MCP_RESOURCE_PATH)
        return await authenticate_key(svc, self._pepper, presented, client_address(conn), resource)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # What a refusal's reply and the scope's check read: the SDK's types and the tools.
        await loaded(f"{__package__}.tools")
        conn = HTTPConnection(scope)
        try:
            _check_origin_and_host(conn)
            if scope["method"] != "POST":
                raise ApiError(Code.METHOD_NOT_ALLOWED, headers={"Allow": "POST"})
            caller = await self._authenticate(conn)
        except ApiError as refused:
            if refused.code == Code.ENVIRONMENT_FROZEN:
                await self._frozen(scope, receive, send, refused)
                return
            await error_response(
                challenged(conn, refused, MCP_RESOURCE_PATH, scope=ASKED_BY_DEFAULT)
            )(scope, receive, send)
            return
        scope[_CALLER] = caller
        scope["user"] = KeyUser(caller)  # the access log's merchant, as on REST routes
        request = Request(scope, receive)
        try:
            body = await read_capped(request, self._max_body_bytes)
            decoded = decode_json(body) if reads_json(scope) else None
        except ApiError as refused:
            await _refusal(scope, refused)(scope, receive, send)
            return
        lacking = _lacking_scope(conn, caller, decoded)
        if lacking is not None:
            await lacking(scope, receive, send)
            return
        door = await self._opened()
        await door.answer(request, body, decoded, receive, send)

    async def _frozen(self, scope: Scope, receive: Receive, send: Send, refused: ApiError) -> None:
        """A request of a frozen environment's key: the key is right, so not the transport's
        refusal (an MCP client reads an HTTP error as a failed exchange, without its reason)
        but the request's own JSON-RPC error, answered 200 with the envelope in ``data``, as a
        tool's refusal is: the agent reads why (2360) and whom to ask."""
        request_id: str | int = "server-error"
        try:
            body = await read_capped(Request(scope, receive), self._max_body_bytes)
            decoded = decode_json(body) if reads_json(scope) else None
        except ApiError:
            decoded = None
        found = decoded.get("id") if isinstance(decoded, dict) else None
        if isinstance(found, str | int) and not isinstance(found, bool):
            request_id = found
        await _refusal(scope, refused, request_id, status=200)(scope, receive, send)


def _lacking_scope(conn: HTTPConnection, caller: Caller, decoded: Any) -> Response | None:
    """The 403 for a ``tools/call`` of a tool whose scope the caller does not hold, with the
    challenge; ``None`` for anything else (a tool it may call, an unknown one, a request that
    is no single call with an id: the SDK and the tool answer those as they do)."""
    if not isinstance(decoded, dict) or decoded.get("method") != "tools/call":
        return None
    params, request_id = decoded.get("params"), decoded.get("id")
    name = params.get("name") if isinstance(params, dict) else None
    if not isinstance(name, str) or not isinstance(request_id, str | int):
        return None
    if isinstance(request_id, bool):  # JSON's true is no id
        return None
    from .tools import by_name  # with the SDK, which a tool call needs anyway

    spec = by_name(name)
    if spec is None or spec.scope is None or caller.policy.allows(spec.scope):
        return None
    challenge = insufficient_scope(conn, spec.scope, caller, MCP_RESOURCE_PATH)
    refused = ApiError(
        Code.KEY_SCOPE_MISSING,
        data={"scope": spec.scope},
        headers={"WWW-Authenticate": challenge},
    )
    return _refusal(conn.scope, refused, request_id)


def _own_names(conn: HTTPConnection) -> frozenset[str]:
    """The names this gateway is at: its loopback names and the address it was reached on."""
    server = conn.scope.get("server")
    return _LOOPBACK if not server else _LOOPBACK | {str(server[0]).lower()}


def _own_origins(conn: HTTPConnection) -> frozenset[str]:
    """``http://`` each of this gateway's own names, with the port it serves on (none for 80,
    as a browser writes it)."""
    server = conn.scope.get("server")
    if not server or server[1] is None:
        return frozenset()
    port = "" if server[1] == 80 else f":{server[1]}"
    return frozenset(
        f"http://{f'[{name}]' if ':' in name else name}{port}" for name in _own_names(conn)
    )


def _host_name(header: str) -> str | None:
    """A Host header's name, in lower case, brackets dropped; None when it is not one."""
    found = _HOST.fullmatch(header.strip().lower())
    return None if found is None else found["v6"] or found["name"]


def _check_origin_and_host(conn: HTTPConnection) -> None:
    """No ``Origin`` (not a browser), or exactly one, allowed or the gateway's own, else 403;
    then no ``Host`` (HTTP/1.0), or exactly one that names this gateway, else 421."""
    settings = services(conn).settings
    origins = conn.headers.getlist("origin")
    if origins:
        origin = origins[0].strip().rstrip("/").lower()
        if len(origins) > 1 or (
            origin not in settings.mcp_origins and origin not in _own_origins(conn)
        ):
            raise ApiError(Code.ORIGIN_NOT_ALLOWED)
    hosts = conn.headers.getlist("host")
    if not hosts:
        return
    name = _host_name(hosts[0]) if len(hosts) == 1 else None
    if name is None or (name not in _own_names(conn) and name not in settings.mcp_hosts):
        raise ApiError(Code.HOST_NOT_ALLOWED)
