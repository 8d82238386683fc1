"""The links mails carry: the recipient's page (a sealed, expiring token) and a password reset.

A recipient's link names a merchant, an environment and an address, and when it stops working,
sealed (AES-256-GCM under the server's sealing key, bound to its purpose): the address is never
in the URL in clear, nobody can make or alter one without the key, and opening one is the
cipher's own authenticated check, in constant time. It is stateless: asking for a fresh link
does not end an older one, which ends at its own expiry.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from keys import Sealer, SealError

__all__ = [
    "MAX_TOKEN_LENGTH",
    "RecipientLink",
    "base_url",
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
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True, slots=True)
class RecipientLink:
    merchant_id: str
    env: str
    email: str
    expires_at: datetime


def base_url(public_base_url: str | None) -> str:
    """Where links point: ``AITOPUP_PUBLIC_BASE_URL``, else the local gateway's default."""
    return (public_base_url or DEFAULT_BASE_URL).rstrip("/")


def recipient_token(sealer: Sealer, link: RecipientLink) -> str:
    body = json.dumps(
        {
            "m": link.merchant_id,
            "e": link.env,
            "a": link.email,
            "x": int(link.expires_at.timestamp()),
        },
        separators=(",", ":"),
    )
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
        )
    except (SealError, ValueError, KeyError, TypeError):
        return None
    return link


def recipient_url(base: str, token: str) -> str:
    return f"{base}/dashboard/recipient/{token}"


def reset_url(base: str, token: str) -> str:
    return f"{base}/dashboard/reset-password?token={token}"
