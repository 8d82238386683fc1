"""The `mcp` SDK's authorization server provider, over ``gateway.apps``.

The SDK's handlers speak the protocol (the checks of an authorization request, PKCE ``S256``,
the token and revocation endpoints, errors in the RFCs' shapes); this answers what they ask of
the store, through ``apps.registry`` and ``apps.grants``, which hold every rule. A confidential
app's secret is checked here (``ClientCheck``) against its peppered HMAC and, within a
rotation's overlap, the previous one: the SDK's own check compares a secret kept in clear.
"""

import base64
import binascii
import re
from urllib.parse import unquote

from mcp.server.auth.middleware.client_auth import AuthenticationError, ClientAuthenticator
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    IdentityAssertionParams,
    RefreshToken,
    RegistrationError,
    TokenError,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyUrl
from starlette.requests import Request

from ..apps import documents, grants, registry
from ..apps.pending import CONSENT_PATH, seal_pending
from ..apps.schemas import APP_SCOPES, redirect_uri
from ..services import Services
from ..values.clock import utcnow
from ..values.public_base import public_base
from ..values.resources import API_PATH, known_resources, normalized
from ..values.text import one_line

__all__ = ["ClientCheck", "Provider", "basic_client_id", "client_info"]

_MOST_REDIRECTS = 10
# An S256 challenge: the unpadded base64url of a SHA-256 digest (RFC 7636 4.2).
_S256 = re.compile(r"[A-Za-z0-9_-]{43}")


def client_info(app: registry.App) -> OAuthClientInformationFull:
    """The app as the SDK describes a client. Its secret is never in it: ``ClientCheck``
    checks secrets against their hashes."""
    return OAuthClientInformationFull(
        client_id=app.client_id,
        client_secret=None,
        redirect_uris=[AnyUrl(uri) for uri in app.redirect_uris],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        # Every scope an app may hold: a client may ask for more than its app was registered
        # for (an MCP client asks for what the resource lists), and gets no more than the app
        # asked for and the person allows (``grants.grantable``), as RFC 6749 3.3 lets a
        # server grant less than asked; the token's ``scope`` says what was granted.
        scope=" ".join(APP_SCOPES),
        token_endpoint_auth_method="client_secret_post" if app.confidential else "none",
        client_name=app.name,
    )


class Provider:
    """``OAuthAuthorizationServerProvider`` for one request, over the request's services."""

    def __init__(self, svc: Services) -> None:
        self._svc = svc
        self._pepper = svc.settings.key_pepper.get_secret_value().encode()

    async def app(self, client_id: str) -> registry.App | None:
        """The app of ``client_id``: a registered one by its id, or a client known by its
        metadata document by the document's URL (read, or read again, through the checked
        transport: ``apps.documents``)."""
        settings = self._svc.settings
        url = documents.document_url(client_id, loopback_http=settings.allow_private_webhook_urls)
        if url is None:
            return await registry.find_app(self._svc.db, client_id)
        reader = self._svc.documents
        if reader is None:
            return None
        return await documents.client_by_document(self._svc.db, reader, url, utcnow())

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        app = await self.app(client_id)
        return None if app is None else client_info(app)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        """RFC 7591: the SDK's handler checked the metadata and minted the id and secret; the
        redirect URIs must keep every app's rule (https, or http on loopback)."""
        uris = tuple(str(uri) for uri in client_info.redirect_uris or ())
        try:
            for uri in uris:
                redirect_uri(uri)
        except ValueError as refused:
            raise RegistrationError("invalid_redirect_uri", str(refused)) from None
        if not uris or len(uris) > _MOST_REDIRECTS:
            raise RegistrationError("invalid_redirect_uri", "between 1 and 10 redirect URIs")
        name = (client_info.client_name or "An unnamed client")[:100]
        try:
            one_line(name)
        except ValueError as refused:
            raise RegistrationError("invalid_client_metadata", f"client_name: {refused}") from None
        await registry.register_client(
            self._svc.db,
            client_id=str(client_info.client_id),
            name=name,
            redirect_uris=uris,
            scopes=tuple((client_info.scope or "").split()),
            secret=client_info.client_secret,
            pepper=self._pepper,
        )

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        """The consent page's link, the checked request sealed in it."""
        if not _S256.fullmatch(params.code_challenge):
            raise AuthorizeError("invalid_request", "PKCE is required: an S256 code_challenge")
        base = public_base(self._svc.settings)
        resource = normalized(params.resource) if params.resource else base + API_PATH
        if resource not in known_resources(base):
            raise AuthorizeError("invalid_target", f"unknown resource: {resource}")
        pending = grants.Pending(
            app_id=_internal(client),
            redirect_uri=str(params.redirect_uri),
            redirect_uri_given=params.redirect_uri_provided_explicitly,
            code_challenge=params.code_challenge,
            resource=resource,
            scopes=tuple(params.scopes or (client.scope or "").split()),
            state=params.state,
        )
        sealed = seal_pending(self._svc.sealer, pending, utcnow())
        return f"{base}{CONSENT_PATH}?request={sealed}"

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        found = await grants.find_code(
            self._svc.db, self._pepper, authorization_code, _internal(client)
        )
        if found is None or found.expires_at is None:
            return None
        return AuthorizationCode(
            code=authorization_code,
            scopes=list(found.scopes),
            expires_at=found.expires_at.timestamp(),
            client_id=str(client.client_id),
            code_challenge=found.code_challenge,
            redirect_uri=AnyUrl(found.redirect_uri),
            redirect_uri_provided_explicitly=found.redirect_uri_given,
            resource=found.resource,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        found = await grants.find_code(
            self._svc.db, self._pepper, authorization_code.code, _internal(client)
        )
        tokens = None
        if found is not None:
            tokens = await grants.redeem_code(
                self._svc.db, self._pepper, authorization_code.code, found
            )
        if tokens is None:
            raise TokenError("invalid_grant", "authorization code does not exist")
        return _reply(tokens)

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        found = await grants.find_refresh(
            self._svc.db, self._pepper, refresh_token, _internal(client)
        )
        if found is None:
            return None
        expires = None if found.expires_at is None else int(found.expires_at.timestamp())
        return RefreshToken(
            token=refresh_token,
            client_id=str(client.client_id),
            scopes=list(found.scopes),
            expires_at=expires,
            resource=found.resource,
        )

    async def exchange_refresh_token(
        self,
        client: OAuthClientInformationFull,
        refresh_token: RefreshToken,
        scopes: list[str],
    ) -> OAuthToken:
        found = await grants.find_refresh(
            self._svc.db, self._pepper, refresh_token.token, _internal(client)
        )
        tokens = None
        if found is not None:
            tokens = await grants.rotate_refresh(
                self._svc.db, self._pepper, refresh_token.token, found, tuple(scopes)
            )
        if tokens is None:
            raise TokenError("invalid_grant", "refresh token does not exist")
        return _reply(tokens)

    async def load_access_token(self, token: str) -> AccessToken | None:
        """For revocation alone: a token of any app, live or not (the handler checks the app)."""
        found = await grants.find_access(self._svc.db, self._pepper, token)
        app = None if found is None else await registry.find_app(self._svc.db, found.app_id)
        if found is None or app is None:
            return None
        return AccessToken(
            token=token, client_id=app.client_id, scopes=list(found.scopes), resource=found.resource
        )

    async def exchange_identity_assertion(
        self, client: OAuthClientInformationFull, params: IdentityAssertionParams
    ) -> OAuthToken:
        """Enterprise identity assertions (SEP-990) are not offered: consent is a person's."""
        raise TokenError("unsupported_grant_type", "identity assertions are not accepted")

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        app_id = _internal_of(token.client_id)
        await grants.revoke_token(self._svc.db, self._pepper, token.token, app_id)


def _internal_of(client_id: str) -> str:
    """The app row of a client id: the id itself, or the row of its metadata document."""
    url = documents.document_url(client_id, loopback_http=True)
    return client_id if url is None else documents.internal_id(url)


def _internal(client: OAuthClientInformationFull) -> str:
    return _internal_of(str(client.client_id))


def _reply(tokens: grants.Tokens) -> OAuthToken:
    return OAuthToken(
        access_token=tokens.access_token,
        token_type="Bearer",  # noqa: S106 (the scheme's name, not a secret)
        expires_in=tokens.expires_in,
        scope=" ".join(tokens.scopes),
        refresh_token=tokens.refresh_token,
    )


class ClientCheck(ClientAuthenticator):
    """The token and revocation endpoints' client check: a public app by its id (PKCE proves
    the rest), a confidential one by its secret, in the form (``client_secret_post``) or in
    HTTP Basic (``client_secret_basic``), against the stored hashes."""

    def __init__(self, provider: Provider, svc: Services) -> None:
        super().__init__(provider)
        self._svc = svc
        self._pepper = svc.settings.key_pepper.get_secret_value().encode()
        self._apps = provider

    async def authenticate_request(self, request: Request) -> OAuthClientInformationFull:
        form = await request.form()
        client_id, secret = _credentials(request, form.get("client_id"), form.get("client_secret"))
        app = await self._apps.app(client_id) if client_id else None
        if app is None:
            raise AuthenticationError("Invalid client_id")
        if app.confidential:
            now = utcnow()
            if secret is None or not registry.secret_matches(app, secret, self._pepper, now):
                raise AuthenticationError("Invalid client_secret")
        return client_info(app)


def basic_client_id(header: str) -> str | None:
    """The client id in an HTTP Basic ``Authorization`` header, if it is one."""
    if header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    basic_id, sep, _ = decoded.partition(":")
    return unquote(basic_id) if sep else None


def _credentials(request: Request, form_id: object, form_secret: object) -> tuple[str, str | None]:
    """The client id and secret, from HTTP Basic (RFC 6749 2.3.1, each URL-encoded) or the form.
    Both given and differing is no client."""
    client_id = form_id if isinstance(form_id, str) else ""
    secret = form_secret if isinstance(form_secret, str) else None
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise AuthenticationError("Invalid Basic authentication header") from None
        basic_id, sep, basic_secret = decoded.partition(":")
        if not sep or (client_id and unquote(basic_id) != client_id):
            raise AuthenticationError("Invalid Basic authentication header")
        client_id, secret = unquote(basic_id), unquote(basic_secret)
    return client_id, secret
