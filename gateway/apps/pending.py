"""An authorization request between the authorization endpoint and the person's answer.

The endpoint checks the request (the app, its exact redirect URI, PKCE, the scopes it may ask
for) and sends the person to the consent page with the request sealed in the link: encrypted
and authenticated (``keys.Sealer``), so no one can read or change it on the way, and expiring
after ``PENDING_TTL``. Nothing is stored until the person approves.

Every answer that goes back to the client at its redirect URI, the code or an error, whether the
endpoint or the consent page sends it, is built by ``answer_url``: it names the issuer
(``iss``, RFC 9207) as the authorization server's metadata does, so a client that talks to
several servers can tell which one answered before it trades a code or shows an error.
"""

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from keys import Sealer, SealError

from ..store.engine import Database
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import Outcome
from ..values.public_base import public_base
from ..values.settings import Settings
from .grants import Pending
from .registry import App, find_app

__all__ = [
    "CODE_PAGE_PATH",
    "CONSENT_PATH",
    "PENDING_TTL",
    "Asked",
    "answer_url",
    "issuer",
    "open_pending",
    "pending_request",
    "seal_pending",
]

# Where the dashboard shows the consent page (``dashboard.consent``).
CONSENT_PATH = "/dashboard/oauth/consent"
# The code display page: an app with no redirect of its own (a command-line tool, a device)
# registers this page's absolute URL as its redirect URI, and the person copies the code from
# it into the app (``dashboard.consent``).
CODE_PAGE_PATH = "/dashboard/oauth/code"
PENDING_TTL = timedelta(minutes=15)
_CONTEXT = "oauth authorization request"


def issuer(settings: Settings) -> str:
    """The authorization server's issuer identifier: the public base itself, as its metadata
    names it and every authorization response repeats it."""
    return public_base(settings)


def answer_url(redirect_uri: str, issuer: str, params: Mapping[str, str]) -> str:
    """``redirect_uri`` with ``params`` (a ``code`` or an ``error`` and its ``state``) and
    ``iss`` added to its query, URL-encoded (RFC 9207 2). ``redirect_uri`` may already carry a
    query: its own, or an answer the `mcp` SDK's handler built, which gets ``iss`` alone."""
    separator = "&" if "?" in redirect_uri else "?"
    return redirect_uri + separator + urlencode({**params, "iss": issuer})


def seal_pending(sealer: Sealer, pending: Pending, now: datetime) -> str:
    body = {**asdict(pending), "until": (now + PENDING_TTL).timestamp()}
    return sealer.seal(json.dumps(body), context=_CONTEXT)


def open_pending(sealer: Sealer, sealed: str, now: datetime) -> Pending | None:
    """The request sealed in ``sealed``, or ``None`` if it is not one of ours or has expired."""
    try:
        body = json.loads(sealer.open(sealed, context=_CONTEXT))
    except (SealError, ValueError):
        return None
    if not isinstance(body, dict) or body.pop("until", 0) < now.timestamp():
        return None
    try:
        body["scopes"] = tuple(body["scopes"])
        return Pending(**body)
    except (TypeError, KeyError):
        return None


@dataclass(frozen=True, slots=True)
class Asked:
    """A request the consent page may show: still sealed by us, unexpired, its app standing
    and its redirect URI still one of the app's."""

    pending: Pending
    app: App


async def pending_request(db: Database, sealer: Sealer, sealed: str) -> Outcome:
    """The consent page's request (``Asked``), or ``None`` as the data when it is not one."""
    pending = open_pending(sealer, sealed, utcnow())
    app = None if pending is None else await find_app(db, pending.app_id)
    if pending is None or app is None or pending.redirect_uri not in app.redirect_uris:
        return Outcome(Code.SUCCESS, None)
    return Outcome(Code.SUCCESS, Asked(pending, app))
