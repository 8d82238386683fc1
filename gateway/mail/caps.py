"""Caps on voucher mails: at most ``AITOPUP_VOUCHER_MAILS_PER_RECIPIENT_PER_HOUR`` to one
address from one merchant, and ``AITOPUP_VOUCHER_MAILS_PER_MERCHANT_PER_HOUR`` from one
merchant in all, per environment. A send past either still delivers its credit; its mail is
written ``held`` (never sent, the cap in ``last_error``), and the send's reply and its
``topup.delivered`` say ``"mail": "held"``.

Counted in Redis (``gateway.ratelimit``) before the send's transaction, so concurrent sends in
any process never admit more than the cap; a send that then writes no mail (refused, a replay,
held for approval, not delivered now, or held by the other cap) gives its count back. Only a
send that would mail pays the round trip. Redis not answering admits the mail (with a warning):
the cap bounds abuse, and a held mail is never sent later, so a short outage must not hold
every recipient's mail.
"""

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..ratelimit import Limit, LimiterUnavailable, hit_all, release_all
from ..settings import Settings

__all__ = ["HOUR", "Gate", "give_back", "take"]

log = logging.getLogger(__name__)

HOUR = 3600


@dataclass(frozen=True, slots=True)
class Gate:
    """What ``take`` decided: ``held`` is why the mail is held (``None``: it may go), and
    ``counted`` the buckets it counted in, which ``give_back`` returns."""

    held: str | None
    counted: tuple[Limit, ...] = ()


def _limits(settings: Settings, merchant_id: str, env: str, email: str) -> list[Limit]:
    # The address is hashed: Redis holds no recipient's address.
    address = hashlib.sha256(email.encode()).hexdigest()[:32]
    return [
        Limit(
            f"voucher-mail:{merchant_id}:{env}:{address}",
            settings.voucher_mails_per_recipient_per_hour,
            HOUR,
        ),
        Limit(
            f"voucher-mail:{merchant_id}:{env}", settings.voucher_mails_per_merchant_per_hour, HOUR
        ),
    ]


def _reason(settings: Settings, recipient: bool) -> str:
    if recipient:
        n = settings.voucher_mails_per_recipient_per_hour
        return f"held: over {n} voucher mails to this address in an hour"
    n = settings.voucher_mails_per_merchant_per_hour
    return f"held: over {n} voucher mails from this merchant in an hour"


async def take(redis: object, settings: Settings, merchant_id: str, env: str, email: str) -> Gate:
    """Count one voucher mail to ``email`` from ``merchant_id`` in ``env``, if both caps have
    room; else the mail is held and nothing stays counted."""
    limits = _limits(settings, merchant_id, env, email)
    try:
        recipient, merchant = await hit_all(redis, limits)
        if recipient.allowed and merchant.allowed:
            return Gate(None, tuple(limits))
        counted = [each for each, d in zip(limits, (recipient, merchant), strict=True) if d.allowed]
        if counted:
            await release_all(redis, counted)
    except LimiterUnavailable as exc:
        log.warning("voucher mail caps unavailable, the mail goes: %s", exc)
        return Gate(None)
    return Gate(_reason(settings, not recipient.allowed))


async def give_back(redis: object, counted: Sequence[Limit]) -> None:
    """Return a count ``take`` made for a mail that was not written after all."""
    if not counted:
        return
    try:
        await release_all(redis, counted)
    except LimiterUnavailable as exc:
        log.warning("voucher mail count not given back: %s", exc)
