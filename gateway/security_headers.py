"""Security headers on every HTML page the gateway serves: one ASGI middleware, one policy.

What gets them is decided by the reply, not by where a page lives: any response of type
``text/html`` (the dashboard, the API explorer at ``/docs``, the staging sandbox checkout page,
an HTML page added later), and anything under ``PREFIXES`` (the dashboard's streams and assets
too). Every response gets ``X-Content-Type-Options: nosniff``: a JSON reply is never read as a
page either.

The Content-Security-Policy allows no inline script (``script-src 'self'``: the dashboard's
scripts are files it serves), no framing, no ``<base>``, and forms that post only here.
``DIRECTIVES_BY_PREFIX`` is the one place to widen a directive for one part of the site. A page
that sets its own ``Referrer-Policy`` keeps it (the sandbox checkout's ``no-referrer``: its
token is in its URL).
"""

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .apps.pending import CONSENT_PATH
from .billing.channels.providers import sandbox

__all__ = [
    "DIRECTIVES",
    "DIRECTIVES_BY_PREFIX",
    "MAIL_SANDBOX",
    "PREFIXES",
    "SecurityHeaders",
    "frame_options_for",
    "policy_for",
]

PREFIXES = ("/dashboard", "/docs")
# What a staging e-mail's HTML version may do beyond nothing: open a link in a new tab, that
# tab not sandboxed (the page a button leads to runs as it would from any mail client).
MAIL_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"

DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
}

# Per path prefix, the directives that differ from ``DIRECTIVES``.
DIRECTIVES_BY_PREFIX: dict[str, dict[str, str]] = {
    # Swagger UI needs nothing wider: its icons are data: images (allowed above) and its styles
    # a stylesheet plus properties set from script, which style-src 'self' allows; a browser
    # test runs it under this policy and fails on any violation (tests/browser/test_docs_*).
    "/docs": {},
    # The dashboard's stylesheet, nothing inline. Pay and Cancel post here and are redirected to
    # the merchant's own success and cancel pages, and browsers hold form-action to the
    # redirect's target as well: any web origin, as Stripe's hosted page sends the payer
    # anywhere too.
    sandbox.PATH: {"form-action": "'self' https: http:"},
    # The OAuth consent page: Allow and Deny post here and are redirected to the app's
    # registered redirect URI (https, or http on loopback), which form-action must allow too.
    CONSENT_PATH: {"form-action": "'self' https: http:"},
    # A staging e-mail's HTML version, a page of its own that the mail's page links to (opened
    # in a tab, never framed: a frame that runs no script cannot size itself to the mail, and
    # cut it short): it carries names a merchant gave, so it is sandboxed, runs no script,
    # loads nothing but its inline styles and data: images, and posts nowhere. Its buttons open
    # a tab of their own, as a mail client opens them, that tab not sandboxed.
    "/dashboard/mail-html": {
        "default-src": "'none'",
        "script-src": "'none'",
        "style-src": "'unsafe-inline'",
        "img-src": "data:",
        "font-src": "'none'",
        "connect-src": "'none'",
        "form-action": "'none'",
        "sandbox": MAIL_SANDBOX,
    },
}

_NOSNIFF = (b"x-content-type-options", b"nosniff")
_DEFAULT_REFERRER = b"same-origin"


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _wider(path: str) -> str:
    return next((p for p in DIRECTIVES_BY_PREFIX if _under(path, p)), "")


def _directives(path: str) -> dict[str, str]:
    return {**DIRECTIVES, **DIRECTIVES_BY_PREFIX.get(_wider(path), {})}


def policy_for(path: str) -> str:
    return "; ".join(f"{name} {value}".strip() for name, value in _directives(path).items())


def frame_options_for(path: str) -> bytes:
    """``X-Frame-Options`` as the policy's ``frame-ancestors`` says it (for older browsers)."""
    return b"SAMEORIGIN" if _directives(path)["frame-ancestors"] == "'self'" else b"DENY"


def _covered(path: str) -> bool:
    return any(_under(path, p) for p in PREFIXES)


def _is_html(raw: list[tuple[bytes, bytes]]) -> bool:
    content_type = next((value for name, value in raw if name.lower() == b"content-type"), b"")
    return content_type.partition(b";")[0].strip().lower() == b"text/html"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._policies: dict[str, bytes] = {}

    def _policy(self, path: str) -> bytes:
        key = _wider(path)  # one policy a prefix: built once
        found = self._policies.get(key)
        if found is None:
            found = self._policies[key] = policy_for(path).encode()
        return found

    def _page_headers(self, path: str, referrer: str | None) -> list[tuple[bytes, bytes]]:
        return [
            (b"content-security-policy", self._policy(path)),
            _NOSNIFF,
            (b"referrer-policy", referrer.encode() if referrer else _DEFAULT_REFERRER),
            (b"x-frame-options", frame_options_for(path)),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        covered = _covered(path)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", ()))
                if covered or _is_html(raw):
                    referrer = Headers(raw=raw).get("referrer-policy")
                    ours = self._page_headers(path, referrer)
                    names = {name for name, _ in ours}
                    kept = [h for h in raw if h[0].lower() not in names]
                    message["headers"] = [*kept, *ours]
                else:  # a reply that is not a page (every API reply): only nosniff
                    kept = [h for h in raw if h[0].lower() != _NOSNIFF[0]]
                    message["headers"] = [*kept, _NOSNIFF]
            await send(message)

        await self.app(scope, receive, send_with_headers)
