"""The paid retry, one room for every request an agent may pay its refusal for funds (the send,
an app's charge): a refusal for funds carries the offers of the protocols offered in the
caller's environment, and the same request retried with a credential pays it, then runs, once.

Every door comes through here and renders the answer its own way, through the protocols that
made it: REST puts each offer and receipt in its protocol's headers (``headers_of``) and a
refusal's Problem Details where a client asks for them (``problem_of``); MCP raises the
JSON-RPC error ``-32042`` with each offer's data (``mcp_refusal``) and puts the receipt in the
result's ``_meta`` (``receipt_meta``). No door names a protocol.

The paid retry, in order (``pay_then``): the request is judged by the key's policy (a payment
never widens what a key or consent may spend); the credential is verified by its protocol
(``Receiver.verify``: nothing is read from the store for a forged, altered, expired or other
merchant's offer); a reply kept under the idempotency key that is not the refusal for funds is
answered as it is (the request was paid and made already: nothing is charged again); the
payment is taken and credited (``orders.pay``, single use per offer); then the request runs
without claiming the key, and its outcome takes the refusal's place under the key
(``idempotency.put``). Of concurrent retries with one credential only the one whose payment
credited the wallet runs. A request refused after the payment (a spend limit, a failed
delivery, a wallet drained meanwhile) says so: the payment stays in the wallet
(``data.payment``).
"""

import dataclasses
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from keys import Sealer

from .. import idempotency
from ..callers import Caller
from ..ledger import service as ledger
from ..operations import perform
from ..store.engine import Database
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.codes import CATALOGUE
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from ..wakes import Waker
from . import orders, registry
from .base import (
    MCP_PAYMENT_REQUIRED,
    MCP_PAYMENT_REQUIRED_MESSAGE,
    REFUSALS,
    AgentPaid,
    Ask,
    Receiver,
    Transport,
)
from .registry import Presenting

__all__ = [
    "KEPT",
    "Answered",
    "Clients",
    "Offer",
    "Payable",
    "Receipt",
    "amount_for",
    "headers_of",
    "mcp_refusal",
    "offers_for",
    "pay_then",
    "problem_of",
    "receipt_meta",
    "refused",
]


class Clients(Protocol):
    """What the paid retry uses of the app's clients (a door hands its ``Services``): the store,
    the seal of what it keeps, the settings and the after-commit wakes, nothing else."""

    @property
    def db(self) -> Database: ...

    @property
    def sealer(self) -> Sealer: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def waker(self) -> Waker: ...


KEPT = (
    " The payment was taken and credited to the wallet (data.payment), and stays there: "
    "send again once this is resolved."
)


@dataclass(frozen=True, slots=True)
class Offer:
    """What one protocol offers a refusal for funds to be paid with (its own value)."""

    protocol: str
    value: Any


@dataclass(frozen=True, slots=True)
class Receipt:
    """What one protocol tells the payer of a payment credited (its own value)."""

    protocol: str
    value: Any


@dataclass(frozen=True, slots=True)
class Answered:
    """A request's outcome, and what the door adds: the offers a refusal for funds (or a refused
    credential) carries, or the receipt of the payment the request was made with."""

    outcome: Outcome
    offers: tuple[Offer, ...] = ()
    receipt: Receipt | None = None


@dataclass(frozen=True, slots=True)
class Payable:
    """A request whose refusal for funds an agent may pay: what its idempotency key is matched
    on, its amount, its policy's judgement (raising the refusal), and the request run once
    paid (never answered by the refusal kept under its key)."""

    request_hash: str
    amount_cents: int
    judge: Callable[[datetime], Awaitable[None]]
    run: Callable[[], Awaitable[Outcome]]


def amount_for(settings: Settings, shortfall_cents: int) -> int | None:
    """What an offer asks for a shortfall: rounded up to the funding step, at least the
    smallest top-up, as a custom-amount checkout would take it; ``None`` past the largest."""
    step = settings.funding_step_cents
    amount = max(-(-max(shortfall_cents, 1) // step) * step, settings.funding_min_cents)
    return amount if amount <= settings.funding_max_cents else None


async def offers_for(
    svc: Clients, caller: Caller, shortfall_cents: int, transport: Transport
) -> tuple[Offer, ...]:
    """The offers for a shortfall: those of the protocols whose channel is offered in the
    caller's environment, if the amount can be paid. Built on a refusal's path only."""
    settings = svc.settings
    amount = amount_for(settings, shortfall_cents)
    if amount is None:
        return ()
    channels = await orders.offered(svc.db, settings, caller.env)
    ask = Ask(caller.merchant_id, caller.env, amount, utcnow(), transport)
    made = []
    for receiver in registry.all_receivers():
        if receiver.name not in channels:
            continue
        value = receiver.offer(settings, ask)
        if value is not None:
            made.append(Offer(receiver.name, value))
    return tuple(made)


def _shortfall(outcome: Outcome) -> int | None:
    if outcome.code != Code.INSUFFICIENT_BALANCE or not isinstance(outcome.data, dict):
        return None
    return int(outcome.data.get("shortfall_cents", 0))


async def refused(svc: Clients, caller: Caller, outcome: Outcome, transport: Transport) -> Answered:
    """An outcome, with its offers where it is a refusal for funds (built here, on the refusal's
    path only)."""
    short = _shortfall(outcome)
    if short is None:
        return Answered(outcome)
    return Answered(outcome, await offers_for(svc, caller, short, transport))


async def _available(svc: Clients, caller: Caller) -> int:
    """The wallet's balance now, as the balance every door shows reads it."""
    async with svc.db.read() as conn:
        wallet = await ledger.balance(conn, caller.env, ledger.merchant_owner(caller.merchant_id))
    return 0 if wallet is None else int(wallet.balance_cents)


def _with_payment(outcome: Outcome, paid: AgentPaid) -> Outcome:
    """The request's outcome saying what paid for it; a refusal says the money stays."""
    data: Any = outcome.data
    if hasattr(data, "model_dump"):
        data = data.model_dump()
    data = {**data, "payment": paid.data()} if isinstance(data, dict) else {"payment": paid.data()}
    message = None
    if outcome.code >= 2000:
        message = (outcome.message or CATALOGUE[outcome.code].message) + KEPT
    return dataclasses.replace(outcome, data=data, message=message)


async def pay_then(
    svc: Clients,
    caller: Caller,
    presenting: Presenting,
    idempotency_key: str | None,
    payable: Payable,
    transport: Transport,
) -> Answered:
    """The paid retry of ``payable`` with what was presented (the module's docstring says the
    order of it)."""
    now = utcnow()
    settings = svc.settings
    receiver, credential = presenting
    scope = idempotency.scope_of(caller, idempotency_key) if idempotency_key else None
    request_hash = payable.request_hash
    try:
        # A request the key may not make is refused before anything is charged for it: a
        # payment never widens what a key or consent may spend.
        await payable.judge(now)
    except ApiError as refusal:
        return Answered(refusal.outcome())
    try:
        verified = receiver.verify(
            settings, credential, merchant_id=caller.merchant_id, env=caller.env, now=now
        )
        if scope is not None:
            kept = await svc.db.run(
                lambda tx: idempotency.peek(
                    tx,
                    svc.sealer,
                    **scope,
                    request_hash=request_hash,
                    now=now,
                    ttl_seconds=settings.idempotency_ttl_seconds,
                ),
                read_only=True,
            )
            if kept is not None and kept.code != Code.INSUFFICIENT_BALANCE:
                return Answered(dataclasses.replace(kept, replayed=True))
        taken = await perform(
            svc.waker,
            orders.pay(svc.db, settings, caller, verified.presented, verified.take, now),
        )
    except ApiError as refusal:
        if refusal.code in REFUSALS:
            # Nothing was charged or run: fresh offers for what the wallet lacks now.
            short = max(payable.amount_cents - await _available(svc, caller), 0)
            return Answered(refusal.outcome(), await offers_for(svc, caller, short, transport))
        raise
    paid = taken.one(AgentPaid)
    outcome = _with_payment(await payable.run(), paid)
    if scope is not None:
        await svc.db.run(
            lambda tx: idempotency.put(
                tx, svc.sealer, **scope, request_hash=request_hash, now=now, outcome=outcome
            )
        )
    if outcome.code >= 2000:
        return await refused(svc, caller, outcome, transport)
    made = receiver.receipt(verified, paid, now)
    return Answered(outcome, receipt=Receipt(receiver.name, made) if made is not None else None)


def _receiver(name: str) -> Receiver:
    found = registry.get(name)
    assert found is not None, name
    return found


def headers_of(answered: Answered) -> dict[str, str]:
    """The REST response's headers each offer or the receipt puts on it."""
    headers: dict[str, str] = {}
    for offer in answered.offers:
        headers.update(_receiver(offer.protocol).offer_headers(offer.value))
    if answered.receipt is not None:
        receipt = answered.receipt
        headers.update(_receiver(receipt.protocol).receipt_headers(receipt.value))
    return headers


def problem_of(answered: Answered) -> dict[str, Any] | None:
    """The Problem Details body (RFC 9457) of a refusal of a paid request, from the first
    protocol that defines one; None for an outcome that is not such a refusal."""
    outcome = answered.outcome
    if outcome.code not in REFUSALS:
        return None
    offered = {offer.protocol: offer.value for offer in answered.offers}
    for receiver in registry.all_receivers():
        body = receiver.problem(outcome.code, offered.get(receiver.name), outcome.body().data)
        if body is not None:
            return body
    return None


def mcp_refusal(answered: Answered) -> tuple[int, str, dict[str, Any]] | None:
    """The JSON-RPC error (code, message, data) of a refusal whose offers are spoken over MCP;
    None where no offer is."""
    outcome = answered.outcome
    found: dict[str, Any] = {}
    for offer in answered.offers:
        found.update(_receiver(offer.protocol).offer_data(offer.value, outcome.code))
    if not found:
        return None
    data = {"httpStatus": 402, **found, "envelope": json.loads(outcome.body().render())}
    return MCP_PAYMENT_REQUIRED, MCP_PAYMENT_REQUIRED_MESSAGE, data


def receipt_meta(answered: Answered) -> dict[str, Any] | None:
    """What a tool result's ``_meta`` carries of the payment the request was made with."""
    if answered.receipt is None:
        return None
    receipt = answered.receipt
    return _receiver(receipt.protocol).receipt_meta(receipt.value)
