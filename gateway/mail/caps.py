"""Caps on voucher mails: at most ``AITOPUP_VOUCHER_MAILS_PER_RECIPIENT_PER_HOUR`` to one
address from one merchant, and ``AITOPUP_VOUCHER_MAILS_PER_MERCHANT_PER_HOUR`` from one
merchant in all, per environment. A send past either still delivers its credit; its mail is
written ``held`` (never sent, the cap in ``last_error``), and the send's reply and its
``topup.delivered`` say ``"mail": "held"``.

Every delivery counts here, through one gate: the send (``topup.doors.send``), an approval
(``doors.approve``) and an upstream's delivery (``topup.fulfilling``, inline or in the worker).
Counted in Redis (``gateway.ratelimit``) before the delivery's transaction, so concurrent sends
in any process never admit more than the cap; a delivery that then writes no mail that goes
(refused, a replay, held for approval, not delivered now, held by the other cap) gives its count
back (``settle``). Only a delivery that would mail pays the round trip.

Fails closed: the caps protect the recipient's inbox and the operator's sending reputation, not
the sender, so when Redis cannot count (down, or slower than ``DEADLINE_SECONDS``, as under the
sender's own burst) the mail is held, as over a cap, and the credit still delivers. A count
that ran but answered late is not given back: it may have counted, and a cap may count a mail
too many, never one too few. The count stays in Redis, not the store: the merchant's cap would
be one row written by every mailing send inside the send's transaction, a hot row on the hot
path, while the Redis count is atomic across processes and only a mailing send pays for it.

The same gate bounds the mails asking a merchant's approvers to decide its held sends
(``approvals_gate``): at most ``AITOPUP_APPROVAL_MAILS_PER_MERCHANT_PER_HOUR`` per environment,
a held send's mails (one per approver) counted together, all or none. Past it, or uncounted,
they are written ``held`` and the sends wait in the dashboard's approvals inbox, decidable there
and through the API as any held send; the last mails the hour lets through say so.
"""

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..ratelimit import (
    CLOSED_DEADLINE_SECONDS,
    Limit,
    LimiterUnavailable,
    hit_all,
    release_all,
)
from ..redis_client import Redis
from ..values.outcome import Outcome
from ..values.settings import Settings
from . import rows

__all__ = [
    "APPROVALS_UNCOUNTED",
    "DEADLINE_SECONDS",
    "HOUR",
    "OFF",
    "UNCOUNTED",
    "Gate",
    "Gates",
    "approvals_gate",
    "give_back",
    "mailed",
    "settle",
    "take",
]

log = logging.getLogger(__name__)

HOUR = 3600
# Past it the mail is held for good: as every limit that holds or refuses when it cannot count.
DEADLINE_SECONDS = CLOSED_DEADLINE_SECONDS


@dataclass(frozen=True, slots=True)
class Gate:
    """What ``take`` decided: ``held`` is why the mail is held (``None``: it may go), and
    ``counted`` the buckets it counted in, which ``give_back`` returns."""

    held: str | None
    counted: tuple[Limit, ...] = ()
    mailing: bool = True  # False: the send or the merchant turned the mail off
    remaining: int | None = None  # what the fullest bucket has left after this count

    def word(self, env: str) -> str:
        """What the delivery's reply and event say of its mail: ``off``, ``held``, or the
        status it is written with."""
        if not self.mailing:
            return "off"
        return rows.HELD if self.held is not None else rows.status_for(env)


OFF = Gate(None, mailing=False)


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


# Why a mail is held when the caps could not be counted.
UNCOUNTED = "held: the caps on voucher mails could not be counted"


def _reason(settings: Settings, recipient: bool) -> str:
    if recipient:
        n = settings.voucher_mails_per_recipient_per_hour
        return f"held: over {n} voucher mails to this address in an hour"
    n = settings.voucher_mails_per_merchant_per_hour
    return f"held: over {n} voucher mails from this merchant in an hour"


async def _gate(
    redis: Redis,
    settings: Settings,
    limits: Sequence[Limit],
    reasons: Sequence[str],
    uncounted: str,
    cost: int = 1,
) -> Gate:
    """Count ``cost`` mails in every one of ``limits`` if each has room (``reasons``: why a
    mail is held past each); else the mail is held and counted in none, or, when Redis cannot
    count it, held all the same (``uncounted``)."""
    try:
        decisions = await hit_all(
            redis,
            limits,
            closed=True,
            cost=cost,
            whole=True,
            answer_within=settings.redis_answer_seconds,
        )
        if all(d.allowed for d in decisions):
            return Gate(None, tuple(limits), remaining=min(d.remaining for d in decisions))
    except LimiterUnavailable as exc:
        log.warning("mail caps unavailable, the mail is held: %s", exc)
        return Gate(uncounted)
    return Gate(next(r for r, d in zip(reasons, decisions, strict=True) if not d.allowed))


async def take(redis: Redis, settings: Settings, merchant_id: str, env: str, email: str) -> Gate:
    """Count one voucher mail to ``email`` from ``merchant_id`` in ``env``, if both caps have
    room. Else the mail is held and nothing this counted stays counted, or, when Redis cannot
    count it, held all the same."""
    limits = _limits(settings, merchant_id, env, email)
    reasons = [_reason(settings, True), _reason(settings, False)]
    return await _gate(redis, settings, limits, reasons, UNCOUNTED)


# Why a held send's approval mails are held when their cap could not be counted.
APPROVALS_UNCOUNTED = "held: the cap on approval mails could not be counted"


async def approvals_gate(
    redis: Redis, settings: Settings, merchant_id: str, env: str, count: int
) -> Gate:
    """Count a held send's ``count`` approval mails from ``merchant_id`` in ``env`` together,
    if the merchant's hour has room for all of them; else all are held."""
    n = settings.approval_mails_per_merchant_per_hour
    limit = Limit(f"approval-mail:{merchant_id}:{env}", n, HOUR)
    reason = f"held: over {n} approval mails from this merchant in an hour"
    return await _gate(redis, settings, [limit], [reason], APPROVALS_UNCOUNTED, cost=count)


async def give_back(redis: Redis, counted: Sequence[Limit]) -> None:
    """Return a count ``take`` made for a mail that was not written after all."""
    if not counted:
        return
    try:
        await release_all(redis, counted)
    except LimiterUnavailable as exc:
        log.warning("voucher mail count not given back: %s", exc)


def mailed(outcome: Outcome) -> bool:
    """The delivery wrote a voucher mail that goes (queued, or staged in staging)."""
    data = outcome.data
    return (
        not outcome.replayed
        and isinstance(data, dict)
        and data.get("mail") in (rows.QUEUED, rows.STAGED)
    )


async def settle(redis: Redis, gate: Gate, outcome: Outcome | None) -> None:
    """After the delivery: its count given back unless it wrote a mail that goes."""
    if gate.counted and (outcome is None or not mailed(outcome)):
        await give_back(redis, gate.counted)


class Gates:
    """The gates of deliveries after the send (an approval, an upstream's answer), each taken
    with ``take`` once the caller knows the mail is on (the top-up's ``notify_recipient`` and
    the merchant's switch, read in its own transaction); the door ``settle``s them after."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._taken: list[Gate] = []

    async def take(self, merchant_id: str, env: str, email: str, *, on: bool) -> Gate:
        gate = OFF
        if on:
            gate = await take(self._redis, self._settings, merchant_id, env, email)
        self._taken.append(gate)
        return gate

    async def settle(self, outcome: Outcome | None) -> None:
        for gate in self._taken:
            await settle(self._redis, gate, outcome)
        self._taken.clear()
