"""The Webhooks page's test inbox section (staging only): its URL to copy into an endpoint, and
the newest requests it received, each with whether its signature verified. The page's live
stream refreshes it as requests arrive (``figures.fingerprint`` watches the newest one)."""

from typing import Any

from ..operations import perform
from ..services import Services
from ..values.marking import marked
from ..webhooks import inbox
from .context import Viewer

__all__ = ["SIGNATURE_LABELS", "section"]

_SHOWN = 20
# Each translated where shown.
SIGNATURE_LABELS = {
    "verified": marked("signature verified"),
    "failed": marked("signature failed"),
    "unsigned": marked("unsigned"),
    "no_endpoint": marked("no endpoint points here"),
}


async def section(svc: Services, viewer: Viewer) -> dict[str, Any]:
    """What the section's template (``webhooks/_inbox.html``) reads; in live, no inbox."""
    if viewer.env != "staging":
        return {"inbox": None}
    read = inbox.read_inbox(svc.db, svc.sealer, svc.settings, viewer.caller, limit=_SHOWN)
    found = (await perform(svc.waker, read)).one(inbox.InboxData)
    return {"inbox": found, "inbox_labels": SIGNATURE_LABELS}
