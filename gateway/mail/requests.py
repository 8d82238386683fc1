"""A request for a link mailed to an address (a password reset, a recipient's page), counted
before anything is looked up: per client address and per address (its digest: no address is
kept in Redis), past either refused with the caller's code, and refused too (503) when Redis
cannot count, since the bound is on mail sent to strangers. Then the same answer whatever the
address is (``mail_link``): only an address the store knows gets the mail, so the answer tells
nobody which addresses are known."""

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..ratelimit import Limit, LimiterUnavailable, hit_all
from ..redis_client import Redis
from ..store.engine import Database
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from . import rows as mail

__all__ = ["WINDOW_SECONDS", "Asked", "Owed", "count_request", "mail_link"]

WINDOW_SECONDS = 3600


async def count_request(
    redis: Redis,
    kind: str,
    *,
    client: str,
    email: str,
    per_client: int,
    per_address: int,
    refused: Code,
    answer_within: float,
) -> None:
    """Counts one request of ``kind`` (the buckets' prefix) from ``client`` for ``email``
    (canonical), each limit an hour; ``ApiError(refused)`` past either, with the retry of the
    window that ends last."""
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]
    limits = [
        Limit(f"{kind}:client:{client}", per_client, WINDOW_SECONDS),
        Limit(f"{kind}:address:{digest}", per_address, WINDOW_SECONDS),
    ]
    try:
        # A request refused by either bucket counts in neither: a client past its own hour
        # takes nothing more from the address's (nor the address's from the client's).
        decisions = await hit_all(
            redis, limits, closed=True, whole=True, answer_within=answer_within
        )
    except LimiterUnavailable:
        raise ApiError(Code.SERVICE_UNAVAILABLE) from None
    over = [d for d in decisions if not d.allowed]
    if over:
        worst = max(over, key=lambda d: d.reset_seconds)
        raise ApiError(refused, data=worst.data(), headers=worst.headers())


@dataclass(frozen=True, slots=True)
class Asked:
    """A kind of link asked for by address: its buckets' prefix and limits an hour, the code
    past either, and the one answer every request gets."""

    kind: str
    per_client: int
    per_address: int
    refused: Code
    answer: Code


# What the address is owed, looked up in the request's transaction at ``now``: its mail's kind
# and data (a link made for it), or ``None`` for an address the store does not know.
Owed = Callable[[AsyncConnection, datetime], Awaitable[tuple[str, dict[str, Any]] | None]]


async def mail_link(
    db: Database,
    redis: Redis,
    sealer: Sealer,
    asked: Asked,
    *,
    email: str,
    client: str,
    env: str | None,
    merchant_id: str | None,
    owed: Owed,
    answer_within: float,
) -> Outcome:
    """``email`` (canonical) asks from ``client`` for what ``owed`` finds: counted first, then
    its mail written in the same transaction as the lookup (the worker sends it), the same
    answer whatever was found."""
    await count_request(
        redis,
        asked.kind,
        client=client,
        email=email,
        per_client=asked.per_client,
        per_address=asked.per_address,
        refused=asked.refused,
        answer_within=answer_within,
    )
    now = utcnow()
    work: list[str] = []
    async with db.transaction() as conn:
        found = await owed(conn, now)
        if found is not None:
            kind, data = found
            queued = await mail.write(
                conn,
                sealer,
                kind=kind,
                env=env,
                merchant_id=merchant_id,
                to=email,
                data=data,
                now=now,
            )
            work = [queued] if queued is not None else []
    return Outcome(asked.answer, None, deliveries=work)
