"""The links mails carry: the recipient's page (a sealed, expiring token), a password reset and
a held send's decision.

A recipient's link names a merchant, an environment and an address, and when it stops working,
sealed (AES-256-GCM under the server's sealing key, bound to its purpose): the address is never
in the URL in clear, nobody can make or alter one without the key, and opening one is the
cipher's own authenticated check, in constant time. It also says when it was made
(``issued_at``) and the sends it shows (``upto``: those made until then; the voucher mail's
link, its own send's time; a fresh link's, the time it was asked for): a send after it is not
on its page, a fresh link by e-mail shows it. Asking for a fresh link does not end an older
one; the merchant ends every link of a recipient made until now
(``recipients.revocations``), else each ends at its own expiry.

Every absolute link the gateway gives (in mail, in a reply, on a page) starts with
``public_base``: ``AITOPUP_PUBLIC_BASE_URL`` (set by ``aitopup serve`` to the address it
serves on when unset), else ``DEFAULT_BASE_URL``; never a request's ``Host``, which its client
chooses.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from keys import Sealer, SealError

__all__ = [
    "MAX_TOKEN_LENGTH",
    "RecipientLink",
    "approval_url",
    "freeze_url",
    "open_recipient_token",
    "recipient_token",
    "recipient_url",
    "reset_url",
    "sealed_link",
]

_PURPOSE = "recipient-link"
_VERSION = "v1:"
# A token is a few hundred characters; anything longer is refused unread.
MAX_TOKEN_LENGTH = 1024


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RecipientLink:
    merchant_id: str
    env: str
    email: str
    expires_at: datetime
    # When the link was made: a revocation ends the links made until it. None: a link made
    # before links said so, ended by any revocation.
    issued_at: datetime | None = None
    # The newest send the page shows (by creation time); None: a link made before links said
    # so, which shows every send until it expires.
    upto: datetime | None = None


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def recipient_token(sealer: Sealer, link: RecipientLink) -> str:
    fields: dict[str, object] = {
        "m": link.merchant_id,
        "e": link.env,
        "a": link.email,
        "x": int(link.expires_at.timestamp()),
    }
    if link.issued_at is not None:
        fields["i"] = _micros(link.issued_at)
    if link.upto is not None:
        fields["u"] = _micros(link.upto)
    body = json.dumps(fields, separators=(",", ":"))
    return sealer.seal(body, context=_PURPOSE).removeprefix(_VERSION)


def open_recipient_token(sealer: Sealer, token: str, now: datetime) -> RecipientLink | None:
    """The link ``token`` stands for, or ``None`` if it is forged, altered or expired."""
    link = sealed_link(sealer, token)
    return link if link is not None and link.expires_at > now else None


def sealed_link(sealer: Sealer, token: str) -> RecipientLink | None:
    """What ``token`` names, expired or not (a fresh link is asked for from an expired one);
    ``None`` if it is forged or altered."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        body = json.loads(sealer.open(_VERSION + token, context=_PURPOSE))
        link = RecipientLink(
            merchant_id=str(body["m"]),
            env=str(body["e"]),
            email=str(body["a"]),
            expires_at=datetime.fromtimestamp(int(body["x"]), UTC),
            issued_at=_instant(int(body["i"])) if "i" in body else None,
            upto=_instant(int(body["u"])) if "u" in body else None,
        )
    except (SealError, ValueError, KeyError, TypeError, OverflowError):
        return None
    return link


def recipient_url(base: str, token: str) -> str:
    return f"{base}/dashboard/recipient/{token}"


def approval_url(base: str, token: str) -> str:
    """A held send's or payment's one-time decision link (``approvals.links``)."""
    return f"{base}/dashboard/approval?token={token}"


def reset_url(base: str, token: str) -> str:
    return f"{base}/dashboard/reset-password?token={token}"


def endpoint_url(base: str, endpoint_id: str) -> str:
    """A webhook endpoint's page in the dashboard."""
    return f"{base}/dashboard/webhooks/endpoints/{endpoint_id}"


def freeze_url(base: str) -> str:
    """The dashboard's kill switch: where an owner sees and undoes a freeze."""
    return f"{base}/dashboard/freeze"
