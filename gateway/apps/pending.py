"""An authorization request between the authorization endpoint and the person's answer.

The endpoint checks the request (the app, its exact redirect URI, PKCE, the scopes it may ask
for) and sends the person to the consent page with the request sealed in the link: encrypted
and authenticated (``keys.Sealer``), so no one can read or change it on the way, and expiring
after ``PENDING_TTL``. Nothing is stored until the person approves.
"""

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from keys import Sealer, SealError

from ..store.db import Database
from ..values.clock import utcnow
from ..values.codes import Code
from ..values.outcome import Outcome
from .grants import Pending
from .registry import App, find_app

__all__ = [
    "CODE_PAGE_PATH",
    "CONSENT_PATH",
    "PENDING_TTL",
    "Asked",
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
