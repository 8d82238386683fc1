"""The OAuth 2.1 endpoints, served by the `mcp` SDK's handlers over ``Provider``.

- ``/.well-known/oauth-authorization-server`` (RFC 8414): where everything is.
- ``/.well-known/oauth-protected-resource/mcp`` and ``…/api/public/v1`` (RFC 9728): which
  authorization server protects each resource, and the least a client should ask for
  (``MINIMAL_SCOPES``); the authorization server's metadata lists every scope an app may hold.
- ``/oauth/authorize``: the request checked, then the consent page (``dashboard.consent``);
  an error sent back to the client names the issuer (``iss``, RFC 9207), as the consent page's
  answers do (``apps.pending.answer_url``).
- ``/oauth/token``: ``authorization_code`` with PKCE ``S256``, ``refresh_token`` rotated.
- ``/oauth/revoke`` (RFC 7009).
- ``/oauth/register``: a client registers itself (RFC 7591), as MCP clients without a
  registered app do; at most ``AITOPUP_OAUTH_REGISTRATIONS_PER_CLIENT_PER_HOUR`` a client
  address. Such an app is unverified on the consent page.

Every URL in the metadata is under ``AITOPUP_PUBLIC_BASE_URL``, never a request's Host. A body
is read up to ``MAX_BODY`` before any handler parses it. The SDK is imported by the first request
that needs it (``provider`` with it), not as the gateway starts: most processes never serve one.
"""

from collections.abc import Awaitable, Callable
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from ..apps.pending import CONSENT_PATH, answer_url, issuer
from ..apps.schemas import APP_SCOPES, MINIMAL_SCOPES
from ..client_limits import OAUTH, OAUTH_REGISTRATIONS, ClientLimit, Refused
from ..ops.url_text import OAUTH_NUL_REFUSAL
from ..services import services
from ..values.loading import loaded
from ..values.outcome import ApiError
from ..values.outside_json import loads
from ..values.parsing import read_capped
from ..values.public_base import public_base
from ..values.resources import API_PATH, MCP_PATH, PROTECTED_RESOURCE_PATH
from ..values.text import holds_nul, query_holds_nul

if TYPE_CHECKING:
    from .provider import Provider

__all__ = ["AUTHORIZE_PATH", "MAX_BODY", "REGISTER_PATH", "REVOKE_PATH", "TOKEN_PATH", "routes"]

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path, not a secret)
REVOKE_PATH = "/oauth/revoke"
REGISTER_PATH = "/oauth/register"
MAX_BODY = 16 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def _metadata(request: Request) -> Response:
    """RFC 8414. The issuer is the public base itself, without a trailing slash: a client
    derives the metadata's URL from it and checks the two are the same string. The models are
    given text, so their own rule for an empty path holds (a URL object would add the slash)."""
    base = issuer(services(request).settings)
    await loaded("mcp.shared.auth")
    from mcp.shared.auth import OAuthMetadata

    both = ["client_secret_post", "client_secret_basic", "none"]
    metadata = OAuthMetadata.model_validate(
        {
            "issuer": base,
            "authorization_endpoint": base + AUTHORIZE_PATH,
            "token_endpoint": base + TOKEN_PATH,
            "revocation_endpoint": base + REVOKE_PATH,
            "registration_endpoint": base + REGISTER_PATH,
            "scopes_supported": list(APP_SCOPES),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": both,
            "revocation_endpoint_auth_methods_supported": both,
            "code_challenge_methods_supported": ["S256"],
            "client_id_metadata_document_supported": True,
            "authorization_response_iss_parameter_supported": True,
        }
    )
    return JSONResponse(metadata.model_dump(mode="json", exclude_none=True))


def _protected(path: str) -> Callable[[Request], Awaitable[Response]]:
    async def described(request: Request) -> Response:
        await loaded("mcp.shared.auth")
        from mcp.shared.auth import ProtectedResourceMetadata

        base = public_base(services(request).settings)
        metadata = ProtectedResourceMetadata.model_validate(
            {
                "resource": base + path,
                "authorization_servers": [base],
                "scopes_supported": list(MINIMAL_SCOPES),
                "resource_name": "aiTopUp gateway"
                + (" (MCP)" if path == MCP_PATH else " (REST API)"),
            }
        )
        return JSONResponse(metadata.model_dump(mode="json", exclude_none=True))

    return described


def _body_holds_nul(request: Request, body: bytes) -> bool:
    """Whether the body (a form, or the JSON of a registration) holds a NUL in any of its
    strings; a body that does not parse is left to the handler to refuse."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind == "application/json":
        try:
            return holds_nul(loads(body))
        except ValueError:
            return False
    return query_holds_nul(body)


async def _bounded(
    request: Request, *, client_form: bool = False, nul_error: str = "invalid_request"
) -> Request | Response:
    """The request with its body read (at most ``MAX_BODY``), for the handler to parse again.

    ``client_form``: the form names its client as the SDK's token and revocation requests
    require, whichever way the client authenticated. RFC 6749 lets a client put its id and
    secret in HTTP Basic alone, and RFC 7009 lets a public client leave its secret out; the
    form gets ``client_id`` (from Basic) and ``client_secret`` (empty) where they are missing.
    ``ClientCheck`` still judges the credentials themselves. A body with a NUL in any string
    is refused here, ``nul_error`` naming it, before a handler could store or look it up."""
    try:
        body = await read_capped(request, MAX_BODY)
    except ApiError:
        return JSONResponse(
            {"error": "invalid_request", "error_description": "request body too large"},
            status_code=413,
            headers=_NO_STORE,
        )
    if _body_holds_nul(request, body):
        return JSONResponse(
            {**OAUTH_NUL_REFUSAL, "error": nul_error}, status_code=400, headers=_NO_STORE
        )
    if client_form:
        body = _with_client(request, body)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, replay)


def _with_client(request: Request, body: bytes) -> bytes:
    form = dict(parse_qsl(body.decode("latin-1")))
    added: dict[str, str] = {}
    if "client_id" not in form:
        from .provider import basic_client_id

        basic_id = basic_client_id(request.headers.get("authorization", ""))
        if basic_id is not None:
            added["client_id"] = basic_id
    if "client_secret" not in form:
        added["client_secret"] = ""
    if not added:
        return body
    return body + (b"&" if body else b"") + urlencode(added).encode()


async def _throttled(request: Request, limit: ClientLimit, said: str) -> Response | None:
    """The refusal of a request past ``limit`` for its client address (429), or of one Redis
    could not count (503: each limit here fails closed); ``None`` to go on."""
    try:
        await limit.count(services(request), request)
    except Refused as refused:
        headers = {**_NO_STORE, **refused.headers()}
        if refused.decision is None:
            return JSONResponse(
                {"error": "temporarily_unavailable", "error_description": "try again shortly"},
                status_code=503,
                headers=headers,
            )
        return JSONResponse(
            {"error": "invalid_request", "error_description": said},
            status_code=429,
            headers=headers,
        )
    return None


async def _sdk_loaded(handler: str) -> None:
    """The SDK's ``handler`` module and this door's provider over it, imported off the event
    loop by the first request that needs them (``values.loading``): seconds on a fresh process."""
    await loaded(f"mcp.server.auth.handlers.{handler}")
    await loaded("mcp.server.auth.settings")
    await loaded(f"{__package__}.provider")


async def authorize(request: Request) -> Response:
    refused = await _throttled(request, OAUTH, "too many requests")
    if refused is not None:
        return refused
    bounded = await _bounded(request)
    if isinstance(bounded, Response):
        return bounded
    await _sdk_loaded("authorize")
    from mcp.server.auth.handlers.authorize import AuthorizationHandler

    from .provider import Provider

    provider = Provider(services(request))
    answered = await AuthorizationHandler(provider).handle(bounded)
    return await _not_redirected(bounded, provider, answered)


async def _not_redirected(request: Request, provider: "Provider", answered: Response) -> Response:
    """``answered``, unless it sends the browser back to an unverified client with an error
    before a person has acted: anyone may register such a client with any ``https`` URI, and
    the gateway would be an open redirector to it (RFC 9700 4.11.2). The person is shown the
    error on a page of the gateway's own instead. A verified app's URIs were given by the
    merchant that registered it, so its errors go back to it, as RFC 6749 4.1.2.1 has them,
    with the issuer (RFC 9207) the SDK's handler does not add."""
    location = answered.headers.get("location")
    settings = services(request).settings
    consent = public_base(settings) + CONSENT_PATH + "?"
    if answered.status_code != 302 or location is None or location.startswith(consent):
        return answered
    params = request.query_params if request.method == "GET" else await request.form()
    client_id = params.get("client_id")
    app = await provider.app(client_id) if isinstance(client_id, str) else None
    if app is not None and app.verified:
        answered.headers["location"] = answer_url(location, issuer(settings), {})
        return answered
    said = dict(parse_qsl(urlsplit(location).query))
    error = escape(said.get("error", "invalid_request"))
    description = escape(said.get("error_description", "")[:300])
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Authorization refused</title></head><body><main>"
        f"<h1>This app's request was refused</h1><p><code>{error}</code></p>"
        f"<p>{description}</p><p>You were not sent back to the app: it is not verified. "
        "You may close this page.</p></main></body></html>"
    )
    return HTMLResponse(body, status_code=400, headers=_NO_STORE)


async def token(request: Request) -> Response:
    refused = await _throttled(request, OAUTH, "too many requests")
    if refused is not None:
        return refused
    bounded = await _bounded(request, client_form=True)
    if isinstance(bounded, Response):
        return bounded
    await _sdk_loaded("token")
    from mcp.server.auth.handlers.token import TokenHandler

    from .provider import ClientCheck, Provider

    svc = services(request)
    provider = Provider(svc)
    answered: Response = await TokenHandler(provider, ClientCheck(provider, svc)).handle(bounded)
    return answered


async def revoke(request: Request) -> Response:
    refused = await _throttled(request, OAUTH, "too many requests")
    if refused is not None:
        return refused
    bounded = await _bounded(request, client_form=True)
    if isinstance(bounded, Response):
        return bounded
    await _sdk_loaded("revoke")
    from mcp.server.auth.handlers.revoke import RevocationHandler

    from .provider import ClientCheck, Provider

    svc = services(request)
    provider = Provider(svc)
    return await RevocationHandler(provider, ClientCheck(provider, svc)).handle(bounded)


async def register(request: Request) -> Response:
    svc = services(request)
    refused = await _throttled(request, OAUTH_REGISTRATIONS, "too many registrations")
    if refused is not None:
        return refused
    bounded = await _bounded(request, nul_error="invalid_client_metadata")
    if isinstance(bounded, Response):
        return bounded
    await _sdk_loaded("register")
    from mcp.server.auth.handlers.register import RegistrationHandler
    from mcp.server.auth.settings import ClientRegistrationOptions

    from .provider import Provider

    options = ClientRegistrationOptions(
        enabled=True, valid_scopes=list(APP_SCOPES), default_scopes=list(MINIMAL_SCOPES)
    )
    return await RegistrationHandler(Provider(svc), options).handle(bounded)


def routes() -> list[BaseRoute]:
    return [
        Route("/.well-known/oauth-authorization-server", _metadata, methods=["GET"]),
        Route(
            PROTECTED_RESOURCE_PATH + MCP_PATH,
            _protected(MCP_PATH),
            methods=["GET"],
        ),
        Route(
            PROTECTED_RESOURCE_PATH + API_PATH,
            _protected(API_PATH),
            methods=["GET"],
        ),
        Route(AUTHORIZE_PATH, authorize, methods=["GET", "POST"]),
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(REVOKE_PATH, revoke, methods=["POST"]),
        Route(REGISTER_PATH, register, methods=["POST"]),
    ]
