"""Who is looking at the dashboard: the visit (the session cookie) and the signed-in viewer.

``require_viewer`` is the one gate of every signed-in page: the viewer, or ``SignInRequired``,
which the dashboard turns into a 303 to the sign-in page. It is also where the viewer's role is
checked against the route's action (``permissions``, ``accounts.roles``): a refusal
(``ROLE_NOT_ALLOWED``, a 403 page saying why) comes before the form is read. The viewer carries
a ``Caller`` for the merchant and the environment of the switch, so every service that takes a
caller (the API's own) is called directly, with the same rules, by the dashboard. It sees
recipients' codes only where the role does (``roles.reveals_codes``), the gateway's own vouchers
as well as an upstream's (``Caller.hides_every_code``): every page, mail view and stream reads
top-ups and mail through the services that hide a code from a caller that may not see it
(``Caller.sees_codes``).
"""

import hashlib
from collections.abc import Awaitable
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import HTTPConnection

from ..accounts import roles, sessions
from ..accounts.roles import dashboard_policy, user_marker
from ..callers import Caller
from ..holds import registry
from ..operations import perform
from ..services import services
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from .paths import PREFIX, path_for
from .permissions import action_of

__all__ = [
    "COOKIE",
    "SignInRequired",
    "Viewer",
    "Visit",
    "current_viewer",
    "known_visit",
    "local_path",
    "require_viewer",
    "sign_in_url",
    "visit",
]

COOKIE = "aitopup_session"
# Kept in the request's scope, which is the request's own (``state`` may be shared with the
# lifespan's: some servers hand every request the same dict).
_VISIT = "aitopup.dashboard.visit"
_VIEWER = "aitopup.dashboard.viewer"


class SignInRequired(Exception):
    """No live session: the dashboard answers 303 to the sign-in page, ``next`` kept."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class Visit:
    session_id: str  # the cookie's value, or a new one this response sets
    session: sessions.SessionInfo | None  # None: not signed in
    csrf_token: str
    set_cookie: bool  # the id is new: the response must set it


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: str
    email: str
    merchant_id: str
    env: str  # "staging" | "live", from the switch
    wallet_id: str  # the merchant's wallet in ``env``
    caller: Caller
    merchant_name: str = ""
    role: str = "viewer"
    pending_approvals: int = 0  # sends held for approval, for the navigation
    language: str | None = None  # the user's own setting; None: the browser's

    def can(self, action: roles.Action) -> bool:
        """Whether this viewer's role allows ``action`` in the environment they look at."""
        return roles.allows(self.role, action, self.env)


def _csrf_secret(conn: HTTPConnection) -> bytes:
    key = services(conn).settings.secret_key.get_secret_value().encode()
    return hashlib.sha256(b"aitopup dashboard csrf\0" + key).digest()


def _anonymous(conn: HTTPConnection, session_id: str | None) -> Visit:
    fresh = session_id is None
    sid = session_id if session_id is not None else sessions.new_id()
    return Visit(sid, None, sessions.anonymous_csrf(sid, _csrf_secret(conn)), fresh)


def _cookie(conn: HTTPConnection) -> str | None:
    value = conn.cookies.get(COOKIE)
    # Ids are 43 URL-safe characters; anything else is not one of ours.
    if value is None or not 20 <= len(value) <= 64:
        return None
    return value


async def visit(conn: HTTPConnection) -> Visit:
    """The visit behind the request's cookie, loaded once a request."""
    found: Visit | None = conn.scope.get(_VISIT)
    if found is not None:
        return found
    session_id = _cookie(conn)
    session = None
    if session_id is not None:
        svc = services(conn)
        loading = sessions.load(svc.db, session_id, registry.held_tables())
        loaded = (await perform(svc.waker, loading)).data
        session = loaded if isinstance(loaded, sessions.SessionInfo) else None
    if session is None:
        found = _anonymous(conn, session_id)
    else:
        assert session_id is not None
        found = Visit(session_id, session, session.csrf_token, False)
    conn.scope[_VISIT] = found
    return found


def known_visit(conn: HTTPConnection) -> Visit:
    """The visit loaded by ``visit`` for this request; an anonymous one if none was."""
    found: Visit | None = conn.scope.get(_VISIT)
    if found is None:
        found = _anonymous(conn, _cookie(conn))
        conn.scope[_VISIT] = found
    return found


def current_viewer(conn: HTTPConnection) -> Viewer | None:
    found: Viewer | None = conn.scope.get(_VIEWER)
    return found


def _next_path(conn: HTTPConnection) -> str:
    path = conn.url.path
    if conn.url.query:
        path += "?" + conn.url.query
    return path


async def require_viewer(conn: HTTPConnection) -> Viewer:
    """The signed-in viewer allowed the route's action, or ``SignInRequired``, or
    ``ApiError(ROLE_NOT_ALLOWED)``."""
    viewer = current_viewer(conn)
    if viewer is None:
        viewer = await _load_viewer(conn)
    action = action_of(conn.scope)
    if action is None or not viewer.can(action):
        message = (
            roles.describe(viewer.role, action, viewer.env)
            if action is not None
            else "This form is not open to anyone."
        )
        raise ApiError(Code.ROLE_NOT_ALLOWED, message)
    return viewer


async def _load_viewer(conn: HTTPConnection) -> Viewer:
    session = (await visit(conn)).session
    if session is None:
        raise SignInRequired(_next_path(conn))
    caller = Caller(
        key_id=user_marker(session.user_id),
        merchant_id=session.merchant_id,
        env=session.env,
        low_balance_threshold_cents=session.low_balance_threshold_cents,
        low_levels=session.low_levels,
        wallet_id=session.wallet_id,
        policy=dashboard_policy(session.role, session.env),
        hides_every_code=not roles.reveals_codes(session.role, session.env),
    )
    viewer = Viewer(
        session.user_id,
        session.email,
        session.merchant_id,
        session.env,
        session.wallet_id,
        caller,
        session.merchant_name,
        session.role,
        session.pending_approvals,
        session.language,
    )
    conn.scope[_VIEWER] = viewer
    return viewer


def sign_in_url(next_path: str | None = None) -> str:
    sign_in = path_for("sign_in_page")
    if not next_path or next_path in (PREFIX, PREFIX + "/"):
        return sign_in
    return sign_in + "?next=" + quote(next_path, safe="/")


def local_path(value: str | None, default: str = PREFIX) -> str:
    """``value`` if it is a path inside the dashboard, else ``default``: a redirect after a
    form never leaves the site (no ``//host``, no scheme, no backslash tricks)."""
    if (
        not value
        or not value.startswith(PREFIX)
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x20 for c in value)
    ):
        return default
    return value


async def link_address(performed: Awaitable[Outcome]) -> str | None:
    """The address an account link's token belongs to (a password reset, an invitation's
    password set), as the ``perform`` of its lookup answers it; ``None`` for a token no link
    has (unknown, used, expired), which the page shows as such."""
    try:
        return (await performed).one(str)
    except ApiError as refused:
        if refused.code != Code.ACCOUNT_LINK_INVALID:
            raise
        return None
