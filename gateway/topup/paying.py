"""The send with agents paying their own way: a refusal for funds carries an MPP challenge (and,
where the operator enabled it, an x402 offer), and the same send retried with a credential
pays it, then runs (``doors.send``), once.

Every door that sends (REST, MCP) comes through ``send``; each renders the answer its own way:
REST puts the challenge in ``WWW-Authenticate`` and the offer in ``PAYMENT-REQUIRED``, the
receipt in ``Payment-Receipt`` (``PAYMENT-RESPONSE``); MCP in the JSON-RPC error's data and the
result's ``_meta``.

The paid retry, in order: the credential is verified (``machine_payments.verify``,
``x402_offers.verify``: nothing is read from the store for a forged, altered, expired or other
merchant's offer); a reply kept under the idempotency key that is not the refusal for funds is
answered as it is (the send was paid and made already: nothing is charged again); the payment
is taken and credited (``agent_payments.pay``, single use per offer); then the send runs
without claiming the key, and its outcome takes the refusal's place under the key
(``idempotency.put``). Of concurrent retries with one credential only the one whose payment
credited the wallet sends. A send refused after the payment (a spend limit, a failed delivery,
a wallet drained meanwhile) says so: the payment stays in the wallet (``data.payment``).
"""

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mpp import Challenge, Receipt
from x402.schemas.responses import SettleResponse

from .. import idempotency
from ..billing import agent_payments, machine_payments
from ..billing.agent_payments import AgentPaid, Presented, Take
from ..billing.channels.registry import MPP, X402, Charged, Context, get
from ..billing.protocols import x402 as x402_offers
from ..billing.providers.mpp import MppProvider, SptCharge
from ..billing.providers.x402 import X402Provider, X402Settlement
from ..budgets.service import drawn
from ..callers import Caller
from ..mail.links import public_base
from ..operations import perform
from ..services import Services
from ..values.clock import utcnow
from ..values.codes import CATALOGUE, Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from . import doors, service
from .schemas import BalanceData, SendRequest

__all__ = [
    "KEPT",
    "Answered",
    "Offers",
    "Payable",
    "Paying",
    "offers_for",
    "pay_then",
    "refused",
    "send",
]

KEPT = (
    " The payment was taken and credited to the wallet (data.payment), and stays there: "
    "send again once this is resolved."
)
SEND_PATH = "/api/public/v1/topup/send"


@dataclass(frozen=True, slots=True)
class Offers:
    """What a refusal for funds offers to be paid with: an MPP challenge, an x402 offer (the
    ``PAYMENT-REQUIRED`` header's value)."""

    challenge: Challenge | None = None
    x402: str | None = None


@dataclass(frozen=True, slots=True)
class Paying:
    """What a retry presented: an MPP credential (as the HTTP header carries it; MCP's is
    converted to it), or an x402 ``PAYMENT-SIGNATURE``."""

    mpp: str | None = None
    x402: str | None = None


@dataclass(frozen=True, slots=True)
class Answered:
    """A send's outcome, and what the door adds: the offers a refusal for funds (or a refused
    credential) carries, or the receipt of the payment the send was made with."""

    outcome: Outcome
    offers: Offers = Offers()
    receipt: Receipt | None = None  # MPP's
    paid_challenge_id: str | None = None  # the MPP challenge the receipt is for
    settled: SettleResponse | None = None  # x402's, for PAYMENT-RESPONSE

    @property
    def challenge(self) -> Challenge | None:
        return self.offers.challenge


async def offers_for(
    svc: Services, caller: Caller, shortfall_cents: int, header: str | None
) -> Offers:
    """The offers for a shortfall: those of the agent channels offered in the caller's
    environment, if the amount can be paid; ``header`` the credential header MPP's challenge
    advertises (``machine_payments.challenge``). Built on a refusal's path only."""
    settings = svc.settings
    amount = machine_payments.amount_for(settings, shortfall_cents)
    if amount is None:
        return Offers()
    channels = await agent_payments.offered(svc.db, settings, caller.env)
    now = utcnow()
    challenge = None
    if MPP in channels:
        challenge = machine_payments.challenge(
            settings,
            merchant_id=caller.merchant_id,
            env=caller.env,
            amount_cents=amount,
            now=now,
            header=header,
        )
    x402 = None
    if X402 in channels and x402_offers.enabled(settings, caller.env) and header is not None:
        need = x402_offers.requirement(
            settings, merchant_id=caller.merchant_id, env=caller.env, amount_cents=amount, now=now
        )
        x402 = x402_offers.offer_header(need, public_base(settings) + SEND_PATH)
    return Offers(challenge, x402)


def _shortfall(outcome: Outcome) -> int | None:
    if outcome.code != Code.INSUFFICIENT_BALANCE or not isinstance(outcome.data, dict):
        return None
    return int(outcome.data.get("shortfall_cents", 0))


async def refused(svc: Services, caller: Caller, outcome: Outcome, header: str | None) -> Answered:
    """A refusal for funds with its offers (built here, on the refusal's path only)."""
    short = _shortfall(outcome)
    if short is None:
        return Answered(outcome)
    return Answered(outcome, await offers_for(svc, caller, short, header))


async def _bad_credential(
    svc: Services, caller: Caller, amount_cents: int, refusal: ApiError, header: str | None
) -> Answered:
    """A credential refused: nothing was charged or sent; fresh offers for what the wallet
    lacks now (a read of the balance)."""
    balance = (await service.balance(svc.db, caller)).one(BalanceData).balance_cents
    short = max(amount_cents - balance, 0)
    return Answered(refusal.outcome(), await offers_for(svc, caller, short, header))


def _with_payment(outcome: Outcome, paid: AgentPaid) -> Outcome:
    """The send's outcome saying what paid for it; a refusal says the money stays."""
    data: Any = outcome.data
    if hasattr(data, "model_dump"):
        data = data.model_dump()
    data = {**data, "payment": paid.data()} if isinstance(data, dict) else {"payment": paid.data()}
    message = None
    if outcome.code >= 2000:
        message = (outcome.message or CATALOGUE[outcome.code].message) + KEPT
    return dataclasses.replace(outcome, data=data, message=message)


@dataclass(frozen=True, slots=True)
class _Verified:
    presented: Presented
    take: Take
    challenge_id: str | None = None  # MPP's
    external_id: str | None = None  # MPP's


def _verified(settings: Settings, caller: Caller, paying: Paying, now: datetime) -> _Verified:
    """The presented payment checked by its protocol, and how its money is taken."""
    merchant_id, env = caller.merchant_id, caller.env
    if paying.mpp is not None:
        mpp = machine_payments.verify(
            settings, paying.mpp, merchant_id=merchant_id, env=env, now=now
        )
        provider = get(MPP)
        assert isinstance(provider, MppProvider)

        async def charge(ctx: Context[Any], order_id: str) -> Charged:
            spt = SptCharge(
                order_id,
                caller.merchant_id,
                mpp.challenge_id,
                mpp.spt,
                mpp.amount_cents,
                mpp.currency,
            )
            return await provider.charge(ctx, spt)

        presented = Presented(
            MPP,
            mpp.challenge_id,
            mpp.amount_cents,
            mpp.expires_at,
            resumable=True,
            credential=agent_payments.digest(mpp.spt),
        )
        return _Verified(presented, charge, mpp.challenge_id, mpp.external_id)
    assert paying.x402 is not None
    if not x402_offers.enabled(settings, env):
        raise ApiError(Code.PAYMENT_METHOD_UNSUPPORTED)
    x402 = x402_offers.verify(settings, paying.x402, merchant_id=merchant_id, env=env, now=now)
    settler = get(X402)
    assert isinstance(settler, X402Provider)

    settlement = X402Settlement(x402.payload, x402.requirements, x402.amount_cents)

    async def settle(ctx: Context[Any], order_id: str) -> Charged:
        return await settler.settle(ctx, settlement)

    kept = settlement.body_json()  # on the order, for a settle whose answer is lost
    presented = Presented(
        X402,
        x402.nonce,
        x402.amount_cents,
        x402.expires_at,
        payload=kept,
        credential=agent_payments.digest(kept),
    )
    return _Verified(presented, settle)


async def send(
    svc: Services,
    caller: Caller,
    body: SendRequest,
    idempotency_key: str | None,
    paying: Paying | None,
    *,
    header: str | None = machine_payments.CREDENTIAL_HEADER,
) -> Answered:
    """``paying``: what the retry presented, if anything; ``header``: the credential header
    MPP's challenges advertise (None over MCP, which offers no x402 either)."""
    if paying is None or (paying.mpp is None and paying.x402 is None):
        outcome = await doors.send(svc, caller, body, idempotency_key)
        if outcome.code != Code.INSUFFICIENT_BALANCE:
            return Answered(outcome)
        return await refused(svc, caller, outcome, header)

    async def judge(now: datetime) -> None:
        budgets = await drawn(svc.db, caller.merchant_id, caller.env, caller.policy.budgets)
        service.judge(caller, body, now, budgets)

    async def run() -> Outcome:
        # The key's kept refusal is not the answer: the send runs unclaimed (its outcome is
        # kept under the key after, by ``pay_then``).
        return await doors.send(svc, caller, body, None)

    payable = Payable(service.request_hash(body), body.amount_cents, judge, run)
    return await pay_then(svc, caller, paying, idempotency_key, payable, header)


@dataclass(frozen=True, slots=True)
class Payable:
    """A request whose refusal for funds an agent may pay: what its idempotency key is matched
    on, its amount, its policy's judgement (raising the refusal), and the request run once
    paid (never answered by the refusal kept under its key)."""

    request_hash: str
    amount_cents: int
    judge: Callable[[datetime], Awaitable[None]]
    run: Callable[[], Awaitable[Outcome]]


async def pay_then(
    svc: Services,
    caller: Caller,
    paying: Paying,
    idempotency_key: str | None,
    payable: Payable,
    header: str | None,
) -> Answered:
    """The paid retry of ``payable`` (the module's docstring says the order of it)."""
    now = utcnow()
    settings = svc.settings
    scope = idempotency.scope_of(caller, idempotency_key) if idempotency_key else None
    request_hash = payable.request_hash
    try:
        # A request the key may not make is refused before anything is charged for it: a
        # payment never widens what a key or consent may spend.
        await payable.judge(now)
    except ApiError as refusal:
        return Answered(refusal.outcome())
    try:
        verified = _verified(settings, caller, paying, now)
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
            agent_payments.pay(svc.db, settings, caller, verified.presented, verified.take, now),
        )
    except ApiError as refusal:
        if refusal.code in machine_payments.PROBLEM_TYPES:
            return await _bad_credential(svc, caller, payable.amount_cents, refusal, header)
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
        return await refused(svc, caller, outcome, header)
    if verified.challenge_id is None:
        settled = paid.said if isinstance(paid.said, SettleResponse) else None
        return Answered(outcome, settled=settled)
    receipt = machine_payments.receipt(paid.payment_id, now, verified.external_id)
    return Answered(outcome, receipt=receipt, paid_challenge_id=verified.challenge_id)
