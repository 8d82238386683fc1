"""Auto top-up: a merchant wallet that tops itself up from a saved payment method when a debit
takes it under a threshold, within a monthly cap, one at a time.

The rules, each in one place:

- **When.** A debit that crosses the armed threshold writes the run in its own write
  (``ledger.refills``); the threshold is armed on the wallet's row (``auto_top_up_below``)
  only while the auto top-up is enabled with a saved payment method (``_arm``). At most one
  run is due per wallet: the runs' partial unique index says so, whatever races.
- **How much.** Back to ``target_cents`` (what the wallet lacks when the run is tried), or a
  fixed ``amount_cents``; never past what the month's cap leaves.
- **The cap.** ``month``/``month_cents`` on the settings row move by one conditional write
  (``_CLAIM``), before any charge: the month's total never passes ``monthly_cap_cents``, under
  any race. A charge refused gives its part back (``_RELEASE``). The month is the calendar
  month (UTC) of the merchant's clock: staging's test clock (``sandbox_clock.now_for``).
- **The money.** Network after money: the claim and the run's funding order (kind ``auto``,
  pending, its channel the saved method's) are committed first; then the provider charges the
  saved method with no one present (``Provider.charge_saved``), idempotent on the run's id;
  then the order is settled by ``orders.complete_order`` as every channel's is (credited once,
  its receipt numbered, ``order.paid``). An answer not known leaves the run due again on
  ``DELAYS`` with its order and claim as they were, and the retry is the same payment.
- **Failures.** A refusal fails the order and counts; ``FAILURES_TO_DISABLE`` in a row turn
  the auto top-up off (disarmed, ``disabled_reason`` set), write ``auto_top_up.disabled`` to the
  merchant's endpoints and mail its owners, in the transaction that records the refusal. A
  success counts them back to zero.
- **Who.** Setting it, reading it (which completes a setup, saving its method) and saving or
  forgetting the method can charge the merchant's card: the merchant's act alone
  (``callers.require_card``: a key of its own with ``billing:card``, or an owner on the
  dashboard), never an app's token nor the key an app manages, whatever it holds.
- **The kill switch.** A run is never charged while its environment is frozen: the try reads
  the flag after its lease, right before the provider's call, and hands the run back untried,
  held (``auto_top_up.runs``), until the environment is unfrozen.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ...callers import Caller, require_card
from ...store.engine import Database
from ...store.expressions import upsert
from ...store.models import AutoTopUp, AutoTopUpRun, FundingOrder, Wallet, table_of
from ...store.queue import Queue
from ...values.clock import new_id, rfc3339, utcnow
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from ...values.public_base import public_base
from ...values.settings import Settings
from .. import sandbox_clock
from ..channels import offering
from ..channels import registry as channels
from ..channels.providers.sandbox import SANDBOX, TEST_CARDS
from ..channels.registry import STRIPE, MethodSetup
from .schemas import AutoTopUpData, AutoTopUpRequest, PaymentMethodData, SetupData, SetupRequest
from .schemas import AutoTopUpRun as RunData

__all__ = [
    "AUTO",
    "DELAYS",
    "DISABLED",
    "FAILURES_TO_DISABLE",
    "QUEUE",
    "SavedMethod",
    "arm",
    "claim_cap",
    "lease_seconds",
    "month_of",
    "read",
    "release_cap",
    "remove",
    "save",
    "saved_method",
    "setup",
]

log = logging.getLogger(__name__)

_A = table_of(AutoTopUp)
_R = table_of(AutoTopUpRun)
_W = table_of(Wallet)
_O = table_of(FundingOrder)

AUTO = "auto"  # the funding order's kind
NAME = "Auto top-up"
DISABLED = "auto_top_up.disabled"  # the event of one turned off by its failures
FAILURES_TO_DISABLE = 3
DUE, DONE, FAILED = "due", "done", "failed"
QUEUE = Queue(_R, due=DUE, done=DONE, failed=FAILED)
# Before each try while the provider's answer is not known; past the last, the run is failed.
DELAYS = (0.0, 30.0, 120.0, 600.0, 3600.0)
RECENT_RUNS = 10
WALLET_PAGE = "/dashboard/wallet"  # where a setup lands back, and the owners' mail links
LEASE_MARGIN_SECONDS = 5.0


def lease_seconds(settings: Settings) -> float:
    """How long a try holds its run: the provider's call, bounded, and a margin."""
    return settings.payment_timeout_seconds + LEASE_MARGIN_SECONDS


def month_of(now: datetime) -> str:
    return f"{now:%Y-%m}"


def _thismonth_of(month: str) -> Any:
    """This month's total so far: nothing, in a new month."""
    return case((_A.c.month == month, _A.c.month_cents), else_=literal(0))


def claim_cap(wallet_id: str, month: str, amount: int) -> Any:
    """The month's cap as one conditional write: this month's total plus ``amount`` at most the
    cap, or no row and nothing changed; concurrent claims take turns on the row."""
    return (
        update(_A)
        .where(
            _A.c.wallet_id == wallet_id,
            _A.c.enabled.is_(True),
            _thismonth_of(month) + amount <= _A.c.monthly_cap_cents,
        )
        .values(month=month, month_cents=_thismonth_of(month) + amount)
        .returning(_A.c.month_cents)
    )


def release_cap(wallet_id: str, month: str, amount: int) -> Any:
    """A refused charge's part of its month's cap given back."""
    return (
        update(_A)
        .where(_A.c.wallet_id == wallet_id, _A.c.month == month)
        .values(month_cents=_A.c.month_cents - amount)
    )


@dataclass(frozen=True, slots=True)
class SavedMethod:
    """The payment method a wallet saved (its provider's reference, and the customer it is
    attached to there), as an agent's wallet pays from it too."""

    provider: str
    payment_method: str
    customer: str | None


async def saved_method(db: Database, merchant_id: str, env: str) -> SavedMethod | None:
    """The payment method the merchant's wallet in ``env`` saved, whether its auto top-up is
    on or off; None when none is saved."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(_A.c.provider, _A.c.payment_method_ref, _A.c.customer_ref).where(
                    _A.c.merchant_id == merchant_id, _A.c.env == env
                )
            )
        ).first()
    if row is None or row.payment_method_ref is None or row.provider is None:
        return None
    return SavedMethod(row.provider, row.payment_method_ref, row.customer_ref)


# --- the merchant's doors: read, save, set up, delete ---


def _method(row: Any) -> PaymentMethodData | None:
    if row is None or row.payment_method_ref is None:
        return None
    return PaymentMethodData(provider=row.provider, label=row.payment_method_label)


async def _reply(conn: AsyncConnection, env: str, wallet_id: str) -> AutoTopUpData:
    row = (await conn.execute(select(_A).where(_A.c.wallet_id == wallet_id))).first()
    if row is None:
        raise ApiError(Code.AUTO_TOP_UP_NOT_FOUND)
    armed = (
        await conn.execute(select(_W.c.auto_top_up_below).where(_W.c.id == wallet_id))
    ).scalar_one()
    runs = (
        await conn.execute(
            select(_R)
            .where(_R.c.wallet_id == wallet_id)
            .order_by(_R.c.created_at.desc(), _R.c.id.desc())
            .limit(RECENT_RUNS)
        )
    ).all()
    return AutoTopUpData(
        env=env,
        enabled=row.enabled,
        armed=armed is not None,
        threshold_cents=row.threshold_cents,
        target_cents=row.target_cents,
        amount_cents=row.amount_cents,
        monthly_cap_cents=row.monthly_cap_cents,
        month=row.month,
        month_cents=row.month_cents,
        payment_method=_method(row),
        failures=row.failures,
        disabled_reason=row.disabled_reason,
        runs=[
            RunData(
                id=r.id,
                status=r.status,
                outcome=r.outcome,
                amount_cents=r.amount_cents,
                order_id=r.order_id,
                created_at=rfc3339(r.created_at),
            )
            for r in runs
        ],
    )


async def arm(conn: AsyncConnection, wallet_id: str) -> None:
    """The wallet's armed threshold from its settings: set while enabled with a saved method,
    else none. The one writer of ``wallets.auto_top_up_below``."""
    row = (await conn.execute(select(_A).where(_A.c.wallet_id == wallet_id))).first()
    armed = row is not None and row.enabled and row.payment_method_ref is not None
    below = row.threshold_cents if armed and row is not None else None
    await conn.execute(update(_W).where(_W.c.id == wallet_id).values(auto_top_up_below=below))


async def read(db: Database, settings: Settings, caller: Caller) -> Outcome:
    """The wallet's auto top-up (``AutoTopUpData``) and its latest runs; a setup left open at
    the provider is looked up first, and its method saved once it is complete."""
    require_card(caller)
    await _complete_setup(db, settings, caller)
    async with db.read() as conn:
        return Outcome(Code.SUCCESS, await _reply(conn, caller.env, caller.wallet_id))


async def _complete_setup(db: Database, settings: Settings, caller: Caller) -> None:
    """The method a setup left open saved, if it is complete; a provider that does not answer
    leaves it open, to be asked again on the next read or save."""
    async with db.read() as conn:
        row = (await conn.execute(select(_A).where(_A.c.wallet_id == caller.wallet_id))).first()
    if row is None or row.setup_ref is None:
        return
    provider = channels.get(row.provider or "")
    if provider is None or not provider.saves_methods:
        return
    credentials = await offering.credentials_for(db, settings, provider, caller.env)
    if credentials is None:
        return
    try:
        async with offering.context(settings, caller.env, credentials) as ctx:
            saved = await provider.saved_method(ctx, row.setup_ref)
    except ApiError:
        log.warning("setup %s of wallet %s not read", row.setup_ref, caller.wallet_id)
        return
    if saved is None:
        return
    async with db.transaction() as conn:
        await _save_method(
            conn,
            caller,
            utcnow(),
            provider=provider.name,
            method=saved.payment_method,
            label=saved.label,
            customer=saved.customer,
        )


def _check(body: AutoTopUpRequest) -> None:
    if (body.target_cents is None) == (body.amount_cents is None):
        raise ApiError(Code.AUTO_TOP_UP_INVALID, data={"field": "target_cents"})
    if body.target_cents is not None and body.target_cents <= body.threshold_cents:
        raise ApiError(Code.AUTO_TOP_UP_INVALID, data={"field": "target_cents"})


def _blank(caller: Caller, now: datetime) -> dict[str, Any]:
    return {
        "wallet_id": caller.wallet_id,
        "merchant_id": caller.merchant_id,
        "env": caller.env,
        "enabled": False,
        "threshold_cents": 0,
        "monthly_cap_cents": 0,
        "month": month_of(now),
        "month_cents": 0,
        "failures": 0,
        "updated_at": now,
    }


async def save(
    db: Database, settings: Settings, caller: Caller, body: AutoTopUpRequest, now: datetime
) -> Outcome:
    """Set the wallet's auto top-up; enabling it needs a saved payment method
    (``AUTO_TOP_UP_NO_PAYMENT_METHOD``; a setup completed since is looked up first). Saving
    counts its failures back to zero."""
    require_card(caller)
    _check(body)
    await _complete_setup(db, settings, caller)
    values = {
        "enabled": body.enabled,
        "threshold_cents": body.threshold_cents,
        "target_cents": body.target_cents,
        "amount_cents": body.amount_cents,
        "monthly_cap_cents": body.monthly_cap_cents,
        "failures": 0,
        "disabled_reason": None,
        "updated_at": now,
    }
    async with db.transaction() as conn:
        stmt = upsert(_A).values({**_blank(caller, now), **values})
        await conn.execute(stmt.on_conflict_do_update(index_elements=[_A.c.wallet_id], set_=values))
        method = (
            await conn.execute(
                select(_A.c.payment_method_ref).where(_A.c.wallet_id == caller.wallet_id)
            )
        ).scalar_one()
        if body.enabled and method is None:
            raise ApiError(Code.AUTO_TOP_UP_NO_PAYMENT_METHOD)
        await arm(conn, caller.wallet_id)
        return Outcome(Code.SUCCESS, await _reply(conn, caller.env, caller.wallet_id))


async def remove(db: Database, caller: Caller) -> Outcome:
    """Turn the wallet's auto top-up off and forget it, its saved method too; a run already
    due finds it gone and charges nothing."""
    require_card(caller)
    async with db.transaction() as conn:
        gone = (await conn.execute(delete(_A).where(_A.c.wallet_id == caller.wallet_id))).rowcount
        if not gone:
            raise ApiError(Code.AUTO_TOP_UP_NOT_FOUND)
        await arm(conn, caller.wallet_id)
    return Outcome(Code.DELETED, None)


async def _save_method(
    conn: AsyncConnection,
    caller: Caller,
    now: datetime,
    *,
    provider: str,
    method: str,
    label: str | None,
    customer: str | None = None,
) -> None:
    values = {
        "provider": provider,
        "payment_method_ref": method,
        "payment_method_label": label,
        "customer_ref": customer,
        "setup_ref": None,
        "failures": 0,
        "disabled_reason": None,
        "updated_at": now,
    }
    stmt = upsert(_A).values({**_blank(caller, now), **values})
    await conn.execute(stmt.on_conflict_do_update(index_elements=[_A.c.wallet_id], set_=values))
    await arm(conn, caller.wallet_id)


async def setup(
    db: Database, settings: Settings, caller: Caller, body: SetupRequest, now: datetime
) -> Outcome:
    """Save the payment method auto top-up charges. Staging: the sandbox's test card named
    (``TEST_CARDS``; ``pm_card_visa`` by default), saved at once. Live: Stripe's, which the
    operator must have configured (``AUTO_TOP_UP_CHANNEL_UNAVAILABLE``)."""
    require_card(caller)
    if caller.env == sandbox_clock.STAGING:
        method = body.payment_method or "pm_card_visa"
        if method not in TEST_CARDS:
            raise ApiError(Code.AUTO_TOP_UP_INVALID, data={"field": "payment_method"})
        label, _ = TEST_CARDS[method]
        async with db.transaction() as conn:
            await _save_method(conn, caller, now, provider=SANDBOX, method=method, label=label)
        saved = PaymentMethodData(provider=SANDBOX, label=label)
        return Outcome(
            Code.SUCCESS,
            SetupData(status="saved", provider=SANDBOX, url=None, payment_method=saved),
        )
    provider = channels.get(STRIPE)
    assert provider is not None
    credentials = await offering.credentials_for(db, settings, provider, caller.env)
    if credentials is None:
        raise ApiError(Code.AUTO_TOP_UP_CHANNEL_UNAVAILABLE)
    req = MethodSetup(
        merchant_id=caller.merchant_id,
        wallet_id=caller.wallet_id,
        return_url=f"{public_base(settings)}{WALLET_PAGE}",
        key=new_id("atus"),
    )
    async with offering.context(settings, caller.env, credentials, now=now) as ctx:
        opened = await provider.open_setup(ctx, req)
    values = {"provider": provider.name, "setup_ref": opened.session_id, "updated_at": now}
    async with db.transaction() as conn:
        stmt = upsert(_A).values({**_blank(caller, now), **values})
        await conn.execute(stmt.on_conflict_do_update(index_elements=[_A.c.wallet_id], set_=values))
    return Outcome(
        Code.SUCCESS,
        SetupData(status="open", provider=provider.name, url=opened.url, payment_method=None),
    )
