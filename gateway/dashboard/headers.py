"""Security headers on every dashboard page and on ``/docs``: one ASGI middleware, one policy.

The Content-Security-Policy allows no inline script (``script-src 'self'``: the dashboard's
scripts are files it serves), no framing, no ``<base>``, and forms that post only here.
``DIRECTIVES_BY_PREFIX`` is the one place to widen a directive for one part of the site (the
API explorer at ``/docs`` may need inline styles).
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DIRECTIVES", "DIRECTIVES_BY_PREFIX", "PREFIXES", "SecurityHeaders", "policy_for"]

PREFIXES = ("/dashboard", "/docs")

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
}


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _wider(path: str) -> str:
    return next((p for p in DIRECTIVES_BY_PREFIX if _under(path, p)), "")


def policy_for(path: str) -> str:
    directives = {**DIRECTIVES, **DIRECTIVES_BY_PREFIX.get(_wider(path), {})}
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def _covered(path: str) -> bool:
    return any(_under(path, p) for p in PREFIXES)


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _covered(scope["path"]):
            await self.app(scope, receive, send)
            return
        ours = [
            (b"content-security-policy", self._policy(scope["path"])),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"x-frame-options", b"DENY"),
        ]
        names = {name for name, _ in ours}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [h for h in message.get("headers", ()) if h[0].lower() not in names]
                message["headers"] = [*kept, *ours]
            await send(message)

        await self.app(scope, receive, send_with_headers)
