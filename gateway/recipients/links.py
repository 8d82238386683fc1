"""A fresh link to a recipient's page, by e-mail, on request.

The answer is always the same (``RECIPIENT_LINK_REQUESTED``) whether or not the address has
top-ups at the merchant: only an address that has gets the mail, so the page tells nobody which
addresses are known. Requests are counted in Redis per client address and per address (its
digest: no address is kept in Redis), past either refused (``RECIPIENT_LINKS_RATE_LIMITED``);
with Redis away, refused too (503): it bounds mail sent to strangers.
"""

import hashlib

from sqlalchemy import select

from keys import Sealer

from ..ledger import service as ledger
from ..mail import rows as mail
from ..ratelimit import Limit, LimiterUnavailable, hit_all
from ..store.db import Database
from ..store.models import Wallet, table_of
from ..values.clock import utcnow
from ..values.codes import Code
from ..values.outcome import ApiError, Outcome
from ..values.platforms import PLATFORMS
from ..values.settings import Settings

__all__ = ["WINDOW_SECONDS", "request_link"]

_W = table_of(Wallet)
WINDOW_SECONDS = 3600


def _digest(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:32]


async def request_link(
    db: Database,
    redis: object,
    sealer: Sealer,
    settings: Settings,
    *,
    merchant_id: str,
    env: str,
    email: str,
    client: str,
) -> Outcome:
    """``email`` (canonical) asks for a link to its page at ``merchant_id`` in ``env``."""
    limits = [
        Limit(
            f"recipient-link:client:{client}",
            settings.recipient_links_per_client_per_hour,
            WINDOW_SECONDS,
        ),
        Limit(
            f"recipient-link:address:{_digest(email)}",
            settings.recipient_links_per_address_per_hour,
            WINDOW_SECONDS,
        ),
    ]
    try:
        decisions = await hit_all(redis, limits)
    except LimiterUnavailable:
        raise ApiError(Code.SERVICE_UNAVAILABLE) from None
    refused = [d for d in decisions if not d.allowed]
    if refused:
        worst = max(refused, key=lambda d: d.reset_seconds)
        raise ApiError(
            Code.RECIPIENT_LINKS_RATE_LIMITED, data=worst.data(), headers=worst.headers()
        )
    owners = [ledger.recipient_owner(merchant_id, p, email) for p in PLATFORMS]
    now = utcnow()
    work: list[str] = []
    async with db.transaction() as conn:
        known = (
            await conn.execute(select(_W.c.id).where(_W.c.env == env, _W.c.owner.in_(owners)))
        ).first()
        if known is not None:
            queued = await mail.write(
                conn,
                sealer,
                kind=mail.RECIPIENT_LINK,
                env=env,
                merchant_id=merchant_id,
                to=email,
                data={},
                now=now,
            )
            work = [queued] if queued is not None else []
    return Outcome(Code.RECIPIENT_LINK_REQUESTED, None, deliveries=work)
