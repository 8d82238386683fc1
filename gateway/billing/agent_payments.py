"""An agent's payment of a 402: the credential's order, its charge, and its credit.

A verified credential (``machine_payments.verify``) becomes an order of the ``mpp`` channel,
kind ``agent``, keyed by the challenge's id: the orders' unique provider id makes the challenge
single use on both stores (a second insert of it fails, however many race). Network after
money: the order is written pending and committed first, then the token is charged
(``providers.mpp``), then the order is settled by ``orders.complete_order`` as every channel's
is (the wallet credited, the receipt numbered, ``order.paid`` written, reconciliation's columns
noted). A charge refused fails the order; a charge whose answer is lost leaves it pending, and
the same credential sent again charges again under the same Stripe idempotency key, so it is
the same PaymentIntent. Of concurrent retries with one credential, one wins the completion and
only that one runs the request it paid for.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from ..callers import Caller
from ..store.db import Database
from ..store.models import FundingOrder, table_of
from ..values.clock import new_id
from ..values.codes import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from . import channels, orders, pricing, providers
from .machine_payments import Verified
from .providers import NoCredentials
from .providers.mpp import MPP, MppProvider, SptCharge

__all__ = ["AGENT", "AgentPaid", "offered", "pay"]

_O = table_of(FundingOrder)

AGENT = "agent"  # the order kind
NAME = "Agent payment"


@dataclass(frozen=True, slots=True)
class AgentPaid:
    """A credential's payment, credited: its order, the provider's id of it, the amount."""

    order_id: str
    payment_id: str
    amount_cents: int

    def data(self) -> dict[str, Any]:
        """What a reply says of it: its order, and that the money is in the wallet."""
        return {
            "order_id": self.order_id,
            "reference": self.payment_id,
            "amount_cents": self.amount_cents,
            "credited": True,
        }


def _provider() -> MppProvider:
    found = providers.get(MPP)
    assert isinstance(found, MppProvider)
    return found


async def offered(db: Database, settings: Settings, env: str) -> bool:
    """Whether a 402 in ``env`` carries an MPP challenge: the channel enabled (staging by
    default, live with Stripe's credentials) and not turned off by the operator."""
    return any(p.name == MPP for p in await channels.offered(db, settings, env))


def _quote(amount: int) -> pricing.Quote:
    """A custom amount at its face value: the challenge's amount is what is charged."""
    return pricing.Quote(None, NAME, amount * 10, amount, amount, 0, 0, 0, amount, "USD")


async def _claim(db: Database, caller: Caller, verified: Verified, now: datetime) -> Any:
    """The credential's order: written pending, or the one a first try of it wrote."""
    order_id = new_id("ord")
    try:
        async with db.transaction() as conn:
            await conn.execute(
                insert(_O).values(
                    id=order_id,
                    env=caller.env,
                    merchant_id=caller.merchant_id,
                    kind=AGENT,
                    provider=MPP,
                    channel=MPP,
                    provider_session_id=verified.challenge_id,
                    provider_account="",
                    status="pending",
                    expires_at=verified.expires_at,
                    created_at=now,
                    updated_at=now,
                    **orders.order_prices(_quote(verified.amount_cents)),
                )
            )
    except IntegrityError:
        pass
    async with db.read() as conn:
        return (
            await conn.execute(
                select(_O).where(
                    _O.c.channel == MPP,
                    _O.c.env == caller.env,
                    _O.c.provider_account == "",
                    _O.c.provider_session_id == verified.challenge_id,
                )
            )
        ).first()


async def pay(
    db: Database, settings: Settings, caller: Caller, verified: Verified, now: datetime
) -> Outcome:
    """Charge the credential and credit its order; the ``Outcome`` carries ``AgentPaid`` and
    the deliveries of the credit. Refused (``PAYMENT_CHALLENGE_INVALID``) when the challenge
    paid already (or is being paid by a concurrent retry that wins), or its payment failed
    before; ``PAYMENT_VERIFICATION_FAILED`` when the token is refused."""
    order = await _claim(db, caller, verified, now)
    if order is None or order.merchant_id != caller.merchant_id or order.status != "pending":
        raise ApiError(Code.PAYMENT_CHALLENGE_INVALID)
    provider = _provider()
    credentials = await channels.credentials_for(db, settings, provider, caller.env)
    if credentials is None:
        if caller.env != "staging":
            raise ApiError(Code.PAYMENT_CHANNEL_NOT_CONFIGURED, data={"channel": MPP})
        credentials = NoCredentials()
    charge = SptCharge(
        order.id,
        caller.merchant_id,
        verified.challenge_id,
        verified.spt,
        int(order.amount_cents),
        verified.currency,
    )
    try:
        async with channels.context(settings, caller.env, credentials, now=now) as ctx:
            charged = await provider.charge(ctx, charge)
    except ApiError as exc:
        # ``channels.context`` says a provider's refusal in the product's code, its status
        # beside: 402 is the token refused (nothing taken); anything else leaves it unknown.
        refused = (exc.data or {}).get("provider_status") == 402
        if exc.code == Code.PAYMENT_PROVIDER_ERROR and refused:
            async with db.transaction() as conn:
                await orders.fail_order(
                    conn, order.id, "payment refused", now, provider=MPP, status="failed"
                )
            raise ApiError(Code.PAYMENT_VERIFICATION_FAILED) from None
        raise
    paid = orders.Paid(MPP, verified.challenge_id, charged.amount_minor, charged.currency)
    async with db.transaction() as conn:
        await orders.note_provider(conn, order.id, "succeeded", now, payment_id=charged.payment_id)
        settled = await orders.complete_order(conn, db, order.id, paid, now)
    if settled.result != "credited":
        raise ApiError(Code.PAYMENT_CHALLENGE_INVALID)
    done = AgentPaid(order.id, charged.payment_id, int(order.amount_cents))
    return Outcome(Code.SUCCESS, done, deliveries=settled.deliveries)
