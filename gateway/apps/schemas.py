"""Wire models of OAuth apps: what registering one takes, what an app and a consent read as.

An app asks for scopes from ``APP_SCOPES`` alone: an app never sees or makes API keys, webhook
secrets or upstream credentials, so ``keys``, ``webhooks`` and ``fulfilment`` cannot be asked
for, nor granted; nor can ``billing:card`` (``policies.model.KEY_ONLY``): only the merchant
charges its saved card. A redirect URI is matched exactly, character for character; it is ``https``,
or ``http`` on a loopback address for apps that run on the person's own machine (RFC 8252).
"""

import ipaddress
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

from ..merchants.schemas import WirePolicy
from ..policies.model import KEY_ONLY, Policy, Scope
from ..policies.usage import WindowUsage
from ..values.model import Model
from ..values.text import Line, one_line
from ..values.urls import split_url

__all__ = [
    "APP_SCOPES",
    "ASKED_BY_DEFAULT",
    "MINIMAL_SCOPES",
    "AppCreate",
    "AppCreated",
    "AppData",
    "AppSecret",
    "AppUpdate",
    "ConnectionData",
    "ConnectionUpdate",
    "MeData",
    "redirect_uri",
]

APP_SCOPES: tuple[Scope, ...] = (
    "topup:send",
    "topup:read",
    "billing",
    "approvals",
    "keys:manage",  # one key of the app's own, within its consent (``apps.managed``)
    # Pay sellers' 402s from the wallet: given by a person only, to an app someone vouches for
    # (``apps.grants.VOUCHED_FOR_ONLY``).
    "payments:send",
)
# What a client that knows no better should ask for: the scope of the 401's challenge on
# ``/mcp`` (RFC 6750 3), which an MCP client takes before the metadata's ``scopes_supported``
# and registers itself with. A self-registered client's registration bounds every later
# consent, so this names sending too: the person may still give reading alone, and the client
# asks for sending when a call needs it (the 403's scope challenge, ``auth.insufficient_scope``).
# More is asked for by naming it, and given by a person.
ASKED_BY_DEFAULT: tuple[Scope, ...] = ("topup:send", "topup:read")
# The least a client needs, what the protected resources' metadata lists as ``scopes_supported``
# (RFC 9728; MCP's "minimal set necessary for basic functionality") and what a client that
# registers itself, or names itself by a metadata document, naming no scope gets: reading.
# The authorization server's metadata lists every scope an app may hold (``APP_SCOPES``).
MINIMAL_SCOPES: tuple[Scope, ...] = ("topup:read",)
_MAX_URL = 2048
_LOOPBACK_NAMES = frozenset({"localhost"})


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri(value: str) -> str:
    """An absolute ``https`` URI, or ``http`` on loopback; no fragment (RFC 6749 3.1.2)."""
    one_line(value)
    parts = split_url(value)
    host = parts.hostname or ""
    if parts.fragment or "#" in value:
        raise ValueError("a redirect URI has no fragment")
    if parts.scheme == "https" and host:
        return value
    if parts.scheme == "http" and _loopback(host):
        return value
    raise ValueError("a redirect URI is https, or http on a loopback address (127.0.0.1, ::1)")


def _web_url(value: str) -> str:
    parts = split_url(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("an absolute http(s) URL")
    return value


RedirectUri = Annotated[str, Field(min_length=1, max_length=_MAX_URL), AfterValidator(redirect_uri)]
WebUrl = Annotated[str, Field(min_length=1, max_length=_MAX_URL), AfterValidator(_web_url)]


def _unique_scopes(value: tuple[Scope, ...]) -> tuple[Scope, ...]:
    kept = [s for s in value if s in KEY_ONLY]
    if kept:
        raise ValueError(f"only the merchant's own key holds {', '.join(kept)}, never an app")
    refused = [s for s in value if s not in APP_SCOPES]
    if refused:
        raise ValueError(f"an app cannot ask for {', '.join(refused)}")
    if len(set(value)) != len(value):
        raise ValueError("entries must be unique")
    return value


AppScopes = Annotated[tuple[Scope, ...], AfterValidator(_unique_scopes)]


class _Body(Model):
    model_config = ConfigDict(extra="forbid")


class AppCreate(_Body):
    name: Line = Field(min_length=1, max_length=100)
    homepage_url: WebUrl | None = None
    logo_url: WebUrl | None = None
    redirect_uris: tuple[RedirectUri, ...] = Field(min_length=1, max_length=10)
    scopes: AppScopes = Field(
        default=("topup:read",),
        description="What the app may ask a person for: topup:send, topup:read, billing, "
        "approvals, keys:manage, payments:send (never ticked for the person; given only to an "
        "app a merchant registered).",
    )
    confidential: bool = Field(
        default=True,
        description="A confidential app (a server) gets a client secret, shown once; a public "
        "one (a native or browser app) proves itself with PKCE alone.",
    )


class AppUpdate(_Body):
    name: Annotated[Line, Field(min_length=1, max_length=100)] | None = None
    homepage_url: WebUrl | None = None
    logo_url: WebUrl | None = None
    redirect_uris: tuple[RedirectUri, ...] | None = Field(default=None, min_length=1, max_length=10)
    scopes: AppScopes | None = None


class AppData(Model):
    id: str = Field(description="The app's `client_id`.")
    name: str
    homepage_url: str | None
    logo_url: str | None
    redirect_uris: list[str]
    scopes: list[str]
    confidential: bool
    verified: bool
    registered_by: str = Field(description="merchant, or dynamic (RFC 7591, unverified)")
    created_at: str
    secret_rotated_until: str | None = Field(
        description="While the previous client secret still works, until when."
    )


class AppCreated(AppData):
    client_secret: str | None = Field(description="Shown here once; null for a public app.")


class AppSecret(Model):
    id: str
    client_secret: str = Field(description="The new secret, shown here once.")
    previous_secret_expires_at: str = Field(description="Until then the previous secret works.")


class ConnectionData(Model):
    """A consent: an app acting for this merchant in one environment, under a key's policy."""

    id: str = Field(description="The consent's key id.")
    app_id: str
    app_name: str
    env: str
    granted_by: str | None = Field(description="The e-mail of the person who consented.")
    policy: Policy
    windows: list[WindowUsage] = Field(description="Per limit, the current window's spend.")
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class ConnectionUpdate(_Body):
    policy: WirePolicy = Field(description="The consent's whole new policy.")


class MerchantRef(Model):
    id: str
    name: str


class AppRef(Model):
    id: str
    name: str


class MeData(Model):
    """Who a key or token acts for (seed 004's ``me``)."""

    merchant: MerchantRef
    env: str
    app: AppRef | None = Field(description="The app acting, for an OAuth token; null for a key.")
    scopes: list[str]
    policy: Policy
