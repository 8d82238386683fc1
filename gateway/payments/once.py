"""A payment run as every kind runs it: its plan in one transaction on the driver
(``Database.run``, the one kind of connection it uses), with an idempotency key the key's claim
its plan's first step (``Claim``, ``plan.payment_steps(claimed=True)``: on PostgreSQL no trip
of its own) and its outcome recorded after, in the same transaction. A claim that finds the key
taken writes nothing and answers what the key keeps (``idempotency.taken``).

A payment that is one plan and nothing after it (a send) may instead take its key last
(``answered``): its plan's last step inserts the key with its answer, sealed before the plan
ran (``Answering``), so the payment is one statement that may autocommit, and a duplicate's
statement fails whole on the key (``UniqueViolated``) before the stored reply is read.

The caller judges the key's policy first (``rules.judge``): a payment the key may not make
reads no stored reply and records none, as Stripe saves no result for a request refused before
it runs. A spend window the store finds full (``spend.LIMIT_CHECK``) undoes the whole write,
the claim with it; the refusal then says which window, read after, and with a key is kept as a
reply is (or, if a duplicate got there first, what it recorded is answered), as Stripe replays
it.
"""

import dataclasses
import functools
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from keys import Sealer

from .. import idempotency
from ..billing.wallet.shortfall import shortfall_data
from ..callers import Caller
from ..ledger import service as ledger
from ..policies import rules, spend, thresholds
from ..store.engine import Database
from ..store.models import IdempotencyRecord
from ..store.raw import CheckViolated, Raw, UniqueViolated
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome

__all__ = [
    "Answer",
    "Answering",
    "Apply",
    "Claim",
    "Keyed",
    "Paid",
    "answered",
    "bound",
    "claimed",
    "pay",
    "short",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Keyed:
    """A payment under an idempotency key: the key, the request's fingerprint
    (``idempotency.fingerprint``), and how long its reply is kept."""

    key: str
    request_hash: str
    ttl_seconds: int


class Paid(NamedTuple):
    outcome: Outcome
    alert: thresholds.Alerting | None = None  # windows the payment took to a level, not alerted
    kept: bool = False  # its key's answer written by its plan (``Answering``)


# The parameters of an idempotency key's claim (``idempotency.claim_params``), which the
# payment's plan takes first; ``None`` without a key.
Claim = dict[str, Any] | None

# The payment's plan and its reply, in the transaction it is given, its plan built with the
# claim's step when given one (``claimed``) and run with the claim's parameters (``bound``).
Apply = Callable[[Raw, Claim], Coroutine[Any, Any, Paid]]


@dataclass(frozen=True, slots=True)
class Answering:
    """A keyed payment whose plan writes its key and answer last (``plan.payment_steps(
    answered=…)``): ``params`` seals the answer as it stands before the plan runs, and gives
    the plan the answer step's parameters."""

    sealer: Sealer
    caller: Caller
    keyed: Keyed
    now: datetime

    def params(self, answer: Outcome) -> dict[str, Any]:
        keyed = self.keyed
        return idempotency.answer_params(
            self.sealer, self.caller, keyed.key, keyed.request_hash, self.now, answer
        )


# A payment that answers in its plan: its plan and reply in the transaction (or autocommit) it
# is given, under ``Answering`` when keyed.
Answer = Callable[[Raw, Answering | None], Coroutine[Any, Any, Paid]]

_KEYS = IdempotencyRecord.__tablename__


def claimed(claim: Claim) -> bool:
    """Whether the payment's plan takes ``claim``'s step (``plan.payment_steps(claimed=…)``)."""
    return claim is not None


def bound(params: dict[str, Any], claim: Claim) -> dict[str, Any]:
    """``params`` (the payment's own, made for this run) with the claim's."""
    if claim is not None:
        params.update(claim)
    return params


async def pay(
    db: Database,
    sealer: Sealer,
    caller: Caller,
    apply: Apply,
    *,
    keyed: Keyed | None,
    counted: Sequence[rules.Counted],
    amount: int,
    now: datetime,
    each_statement: bool = False,
) -> Outcome:
    """``apply`` once under ``keyed`` (or without a key: ``each_statement`` as
    ``Database.run`` takes it), the payment counted in ``counted``'s windows; with the
    deliveries of the ``key.budget_low`` it made due."""
    try:
        if keyed is None:
            run = await db.run(lambda tx: apply(tx, None), each_statement=each_statement)
            return await _alerted(db, run, now)

        async def once(tx: Raw) -> Paid:
            assert keyed is not None
            claim = idempotency.claim_params(caller, keyed.key, keyed.request_hash, now)
            try:
                done = await apply(tx, claim)
            except idempotency.Claimed:
                stored = await idempotency.taken(tx, sealer, **_asked(caller, keyed, now))
                if stored is not None:
                    return Paid(stored)
                # Its TTL had passed: forgotten in this transaction, so this claim takes it.
                done = await apply(tx, claim)
            await _record(tx, sealer, caller, keyed, done.outcome)
            return done

        return await _alerted(db, await db.run(once), now)
    except CheckViolated as violated:
        if violated.name != spend.LIMIT_CHECK:
            raise
    return await _window_full(db, sealer, caller, keyed, counted, amount, now)


async def answered(
    db: Database,
    sealer: Sealer,
    caller: Caller,
    apply: Answer,
    *,
    keyed: Keyed | None,
    counted: Sequence[rules.Counted],
    amount: int,
    now: datetime,
    each_statement: bool = False,
) -> Outcome:
    """``pay``, for a payment whose plan writes its key's answer itself (``Answering``): with
    or without a key, ``each_statement`` as ``Database.run`` takes it. A duplicate's statement
    fails whole on the key, and what the key keeps is answered (a key past its TTL is forgotten
    and the payment runs again). A refusal its plan did not answer (the wallet short) is kept
    under the key as ``pay`` keeps a full window's."""
    answering = None if keyed is None else Answering(sealer, caller, keyed, now)
    try:
        for _ in range(2):
            try:
                paid = await db.run(lambda tx: apply(tx, answering), each_statement=each_statement)
            except UniqueViolated as taken_by:
                if keyed is None or taken_by.table != _KEYS:
                    raise
                taken = functools.partial(idempotency.taken, sealer=sealer)
                stored = await db.run(functools.partial(taken, **_asked(caller, keyed, now)))
                if stored is not None:
                    return stored
                continue  # its TTL had passed: forgotten, so this request takes the key
            if keyed is None or paid.kept:
                return await _alerted(db, paid, now)
            return await db.run(functools.partial(_keep, sealer, caller, keyed, now, paid.outcome))
        # Forgotten twice over: never, as the one forget frees the key and a request that took
        # it since keeps a reply that is not past its TTL.
        raise RuntimeError("an idempotency key was found past its TTL twice in one request")
    except CheckViolated as violated:
        if violated.name != spend.LIMIT_CHECK:
            raise
    return await _window_full(db, sealer, caller, keyed, counted, amount, now)


async def _window_full(
    db: Database,
    sealer: Sealer,
    caller: Caller,
    keyed: Keyed | None,
    counted: Sequence[rules.Counted],
    amount: int,
    now: datetime,
) -> Outcome:
    """A window was full: the write, the key's claim or answer with it, was undone. Say which,
    kept under ``keyed``."""
    spent = await db.run(lambda tx: spend.spent_in(tx, caller.key_id, counted), read_only=True)
    refusal = rules.refused(counted, spent, amount).outcome()
    if keyed is None:
        return refusal
    return await db.run(functools.partial(_keep, sealer, caller, keyed, now, refusal))


async def short(tx: Raw, wallet_id: str, amount: int, public_base_url: str | None) -> Paid:
    """The refusal of a payer's wallet whose debit found no row: its environment frozen since
    the caller authenticated (raised, so the transaction and an idempotency key's claim are
    undone: once unfrozen, the same request runs), or it does not hold ``amount``: what is
    missing and where to fund it, read in this transaction."""
    if await ledger.frozen(tx, wallet_id):
        raise ApiError(Code.ENVIRONMENT_FROZEN)
    found = await shortfall_data(tx, wallet_id, amount, public_base_url)
    return Paid(ApiError(Code.INSUFFICIENT_BALANCE, data=found).outcome())


def _asked(caller: Caller, keyed: Keyed, now: datetime) -> dict[str, Any]:
    """What ``idempotency.claim`` and ``idempotency.taken`` are asked of ``keyed``."""
    return {
        **idempotency.scope_of(caller, keyed.key),
        "request_hash": keyed.request_hash,
        "now": now,
        "ttl_seconds": keyed.ttl_seconds,
    }


async def _keep(
    sealer: Sealer, caller: Caller, keyed: Keyed, now: datetime, refusal: Outcome, tx: Raw
) -> Outcome:
    """``refusal`` kept under ``keyed``, or what the key keeps if another request took it."""
    stored = await idempotency.claim(tx, sealer, **_asked(caller, keyed, now))
    if stored is not None:
        return stored
    await _record(tx, sealer, caller, keyed, refusal)
    return refusal


async def _record(tx: Raw, sealer: Sealer, caller: Caller, keyed: Keyed, outcome: Outcome) -> None:
    await idempotency.record(tx, sealer, **idempotency.scope_of(caller, keyed.key), outcome=outcome)


async def _alerted(db: Database, paid: Paid, now: datetime) -> Outcome:
    """The payment's outcome, with the deliveries of the ``key.budget_low`` it made due. The
    payment has committed whatever happens here: an alert that fails is the worker's
    ``budget_alerts`` job's to write."""
    outcome, due = paid.outcome, paid.alert
    if due is None:
        return outcome
    try:
        alerted = await thresholds.alert(db, due, now)
    except Exception:
        log.warning("spend alerts not written after the payment; the worker will", exc_info=True)
        return outcome
    return dataclasses.replace(outcome, deliveries=[*outcome.deliveries, *(alerted or [])])
