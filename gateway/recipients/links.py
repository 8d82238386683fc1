"""A fresh link to a recipient's page, by e-mail, on request.

The answer is always the same (``RECIPIENT_LINK_REQUESTED``) whether or not the address has
top-ups at the merchant: only an address that has gets the mail, so the page tells nobody which
addresses are known. Requests are counted in Redis per client address and per address (its
digest: no address is kept in Redis), past either refused (``RECIPIENT_LINKS_RATE_LIMITED``);
with Redis away, refused too (503): it bounds mail sent to strangers.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..ledger import service as ledger
from ..mail import rows as mail
from ..mail.requests import Asked, mail_link
from ..redis_client import Redis
from ..store.engine import Database
from ..store.models import Wallet, table_of
from ..values.code_names import Code
from ..values.outcome import Outcome
from ..values.platforms import PLATFORMS
from ..values.settings import Settings

__all__ = ["request_link"]

_W = table_of(Wallet)


async def request_link(
    db: Database,
    redis: Redis,
    sealer: Sealer,
    settings: Settings,
    *,
    merchant_id: str,
    env: str,
    email: str,
    client: str,
) -> Outcome:
    """``email`` (canonical) asks for a link to its page at ``merchant_id`` in ``env``."""
    asked = Asked(
        "recipient-link",
        settings.recipient_links_per_client_per_hour,
        settings.recipient_links_per_address_per_hour,
        Code.RECIPIENT_LINKS_RATE_LIMITED,
        Code.RECIPIENT_LINK_REQUESTED,
    )
    owners = [ledger.recipient_owner(merchant_id, p, email) for p in PLATFORMS]

    async def owed(conn: AsyncConnection, now: datetime) -> tuple[str, dict[str, Any]] | None:
        where = (_W.c.env == env, _W.c.owner.in_(owners))
        known = (await conn.execute(select(_W.c.id).where(*where))).first()
        return (mail.RECIPIENT_LINK, {}) if known is not None else None

    return await mail_link(
        db, redis, sealer, asked, email=email, client=client, env=env,
        merchant_id=merchant_id, owed=owed, answer_within=settings.redis_answer_seconds,
    )  # fmt: skip
