"""Auto top-up's runs as the runner tries them: a due run claims its month's share of the cap,
opens its funding order, charges the saved payment method with no one present, and is settled,
retried or counted as a failure (the rules: ``billing.auto_top_up``).

The kill switch holds a run. While its environment is frozen (``wallets.frozen_at``, the flag
``freezes`` sets) a try charges nothing: the flag is read after the lease, before the claim
(no order is written, nothing taken from the month's cap) and again right before the
provider's call (a freeze that came after the claim), and the run is handed back untried,
still due, its try not counted (``give_back``), to be looked at again ``FROZEN_HOLD_SECONDS``
later. It is neither failed nor counted as a refusal: the first try after the unfreeze is an
ordinary one (for a run never tried, what the wallet lacks by then; for a retry, the same
payment, idempotent on the run's id). A freeze that lands in the instant between the last
read and the provider's call is the one window left: no transaction may be held across the
call (network after money)."""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ... import outbox
from ...mail import alerts
from ...mail import rows as mail_rows
from ...store.engine import Database
from ...store.models import AutoTopUp, AutoTopUpRun, FundingOrder, Wallet, table_of
from ...store.queue import give_back, next_try, settle
from ...store.raw import raw
from ...values.clock import new_id, rfc3339
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from ...values.settings import Settings
from .. import orders, sandbox_clock
from ..channels import offering
from ..channels import registry as channels
from ..channels.registry import NoCredentials, SavedCharge
from ..orders import pricing
from ..orders import states as order_states
from . import (
    AUTO,
    DELAYS,
    DISABLED,
    FAILURES_TO_DISABLE,
    LEASE_MARGIN_SECONDS,
    NAME,
    QUEUE,
    arm,
    claim_cap,
    lease_seconds,
    month_of,
    release_cap,
)

__all__ = ["FROZEN_HOLD_SECONDS", "attempt", "disable"]

log = logging.getLogger(__name__)

_A = table_of(AutoTopUp)
_R = table_of(AutoTopUpRun)
_W = table_of(Wallet)
_O = table_of(FundingOrder)

# How long a run held by a freeze waits before it is looked at again: the most a run waits
# past the unfreeze, and one read a minute per held run while frozen.
FROZEN_HOLD_SECONDS = 60.0


class _Held:
    """What ``_charge`` answers when the environment is frozen: nothing asked of the provider."""


_HELD = _Held()


# --- the runner's try of a due run ---


def _tried(outcome: str | None, deliveries: list[str] | None = None) -> Outcome:
    """What a try came to: the run's outcome as ``status`` (``None``: due again), and the
    outbox rows it wrote, to wake for."""
    return Outcome(Code.SUCCESS, status=outcome, deliveries=deliveries or [])


async def _frozen(conn: AsyncConnection, wallet_id: str) -> bool:
    """Whether the run's environment is frozen now (the kill switch's flag on its wallet)."""
    found = await conn.execute(select(_W.c.frozen_at).where(_W.c.id == wallet_id))
    return found.scalar_one() is not None


async def _hold(conn: AsyncConnection, run: Any, real_now: datetime) -> Outcome:
    """The run handed back untried while frozen: due again later, its try not counted."""
    await give_back(conn, QUEUE, run, real_now, real_now + timedelta(seconds=FROZEN_HOLD_SECONDS))
    return _tried(None, [])


def _quote(amount: int) -> pricing.Quote:
    """What the order charges: ``amount`` at its face value, credited whole."""
    return pricing.Quote(None, NAME, amount * 10, amount, amount, 0, 0, 0, amount, "USD")


async def _claim(conn: AsyncConnection, run: Any, now: datetime) -> str | None:
    """The run's amount claimed from the month's cap and its order written (pending); or why
    there is nothing to charge (its outcome)."""
    row = (await conn.execute(select(_A).where(_A.c.wallet_id == run.wallet_id))).first()
    if row is None or not row.enabled or row.payment_method_ref is None:
        return "off"
    balance = (
        await conn.execute(select(_W.c.balance_cents).where(_W.c.id == run.wallet_id))
    ).scalar_one()
    want = row.amount_cents if row.target_cents is None else row.target_cents - balance
    if want <= 0:
        return "not_needed"
    month = month_of(now)
    used = row.month_cents if row.month == month else 0
    amount = min(want, row.monthly_cap_cents - used)
    if amount <= 0:
        return "capped"
    if (await conn.execute(claim_cap(run.wallet_id, month, amount))).first() is None:
        return "capped"  # a claim between the read and this one took the rest
    order_id = new_id("ord")
    await conn.execute(
        insert(_O).values(
            id=order_id,
            env=run.env,
            merchant_id=run.merchant_id,
            kind=AUTO,
            provider=row.provider,
            channel=row.provider,
            provider_session_id=run.id,
            provider_account="",
            status=order_states.first(order_states.PENDING),
            expires_at=None,
            created_at=now,
            updated_at=now,
            **orders.order_prices(_quote(amount)),
        )
    )
    await conn.execute(
        update(_R)
        .where(_R.c.id == run.id)
        .values(order_id=order_id, amount_cents=amount, month=month)
    )
    return None


async def _settle(
    conn: AsyncConnection, run: Any, outcome: str, now: datetime, error: str | None = None
) -> None:
    """The run's record: done with ``outcome``, or failed (``error``) for good."""
    await conn.execute(update(_R).where(_R.c.id == run.id).values(outcome=outcome))
    await settle(conn, QUEUE, run, error=error, at=None, now=now)


async def disable(
    conn: AsyncConnection, sealer: Sealer, run: Any, reason: str, failures: int, now: datetime
) -> list[str]:
    """Turn the wallet's auto top-up off after ``failures`` refusals: disarmed, the reason kept,
    ``auto_top_up.disabled`` to the merchant's endpoints and a mail to each owner."""
    await conn.execute(
        update(_A)
        .where(_A.c.wallet_id == run.wallet_id)
        .values(enabled=False, disabled_reason=reason, updated_at=now)
    )
    await arm(conn, run.wallet_id)
    data = {
        "wallet_env": run.env,
        "failures": failures,
        "reason": reason,
        "disabled_at": rfc3339(now),
        "last_run_id": run.id,
    }
    told = await outbox.emit(
        conn, env=run.env, merchant_id=run.merchant_id, type_=DISABLED, data=data, now=now
    )
    values = {"env": run.env, "failures": failures, "reason": reason, "disabled_at": rfc3339(now)}
    mails = await alerts.mail_each_owner(
        await raw(conn), sealer, run.merchant_id, mail_rows.AUTO_TOP_UP_DISABLED, values, now
    )
    return [*told, *mails]


async def _refused(
    conn: AsyncConnection, sealer: Sealer, run: Any, provider: str, reason: str, now: datetime
) -> list[str]:
    """A charge refused: its order failed, its part of the month given back, the failure
    counted; the third in a row turns auto top-up off."""
    failed = await orders.fail_order(conn, run.order_id, reason, now, provider=provider)
    if failed.result == "not_pending":
        # Another try of this run (a lease that lapsed) recorded it first: counted once.
        await _settle(conn, run, "refused", now, reason)
        return []
    await conn.execute(release_cap(run.wallet_id, run.month, run.amount_cents))
    failures = (
        await conn.execute(
            update(_A)
            .where(_A.c.wallet_id == run.wallet_id)
            .values(failures=_A.c.failures + 1)
            .returning(_A.c.failures, _A.c.enabled)
        )
    ).first()
    await _settle(conn, run, "refused", now, reason)
    if failures is not None and failures.enabled and failures.failures >= FAILURES_TO_DISABLE:
        return await disable(conn, sealer, run, reason, failures.failures, now)
    return []


async def _charge(db: Database, settings: Settings, run: Any, now: datetime) -> Any:
    """The saved method charged for the run: ``Charged``, a refusal's reason (``str``), or
    ``None`` when the answer is not known; ``_HELD`` while the environment is frozen, read as
    late as it can be, right before the call."""
    async with db.read() as conn:
        row = (await conn.execute(select(_A).where(_A.c.wallet_id == run.wallet_id))).first()
        frozen = await _frozen(conn, run.wallet_id)
    if frozen:
        return _HELD
    if row is None or row.payment_method_ref is None:
        return "no saved payment method"
    provider = channels.get(row.provider or "")
    if provider is None or not provider.saves_methods:
        return "payment channel unavailable"
    if provider.stands_in != (run.env == sandbox_clock.STAGING):
        return "payment channel unavailable"  # staging charges the sandbox, live never does
    credentials = await offering.credentials_for(db, settings, provider, run.env)
    if credentials is None:
        if run.env != sandbox_clock.STAGING:
            return "payment channel not configured"
        credentials = NoCredentials()
    req = SavedCharge(
        order_id=run.order_id,
        merchant_id=run.merchant_id,
        key=run.id,
        amount_minor=run.amount_cents,
        currency="USD",
        customer=row.customer_ref,
        payment_method=row.payment_method_ref,
    )
    try:
        async with asyncio.timeout(lease_seconds(settings) - LEASE_MARGIN_SECONDS):
            async with offering.context(settings, run.env, credentials, now=now) as ctx:
                return await provider.charge_saved(ctx, req)
    except TimeoutError:
        return None
    except ApiError as exc:
        status = (exc.data or {}).get("provider_status") if isinstance(exc.data, dict) else None
        if exc.code == Code.PAYMENT_PROVIDER_ERROR and status == 402:
            code = (exc.data or {}).get("provider_code") or "card_declined"
            return f"payment refused: {code}"
        return None


async def attempt(
    db: Database,
    settings: Settings,
    sealer: Sealer,
    run: Any,
    real_now: datetime,
    sent: Callable[[], None] | None = None,
) -> Outcome:
    """One try of a due run (leased by the runner): claim and write its order once, charge,
    and record what came of it, each in its own transaction, none across the call; held,
    untried, while its environment is frozen."""
    async with db.read() as conn:
        now = await sandbox_clock.now_for(conn, run.merchant_id, run.env, real=real_now)
    if run.order_id is None:
        async with db.transaction() as conn:
            if await _frozen(conn, run.wallet_id):
                return await _hold(conn, run, real_now)
            outcome = await _claim(conn, run, now)
            if outcome is not None:
                await _settle(conn, run, outcome, real_now)
                return _tried(outcome, [])
        async with db.read() as conn:
            run = (await conn.execute(select(_R).where(_R.c.id == run.id))).one()
    charged = await _charge(db, settings, run, now)
    if charged is _HELD:
        async with db.transaction() as conn:
            return await _hold(conn, run, real_now)
    if sent is not None:
        sent()
    provider = await _provider_of(db, run.order_id)
    async with db.transaction() as conn:
        if isinstance(charged, str):
            return _tried("refused", await _refused(conn, sealer, run, provider, charged, now))
        if charged is None:
            at = next_try(DELAYS, int(run.attempts) + 1, real_now)
            if at is None:
                reason = "no answer from the payment channel"
                return _tried("refused", await _refused(conn, sealer, run, provider, reason, now))
            await settle(conn, QUEUE, run, error="no answer in time", at=at, now=real_now)
            return _tried(None, [])
        paid = orders.Paid(provider, run.id, charged.amount_minor, charged.currency)
        await orders.note_provider(
            conn, run.order_id, "succeeded", now, payment_id=charged.payment_id
        )
        settled = await orders.complete_order(conn, run.order_id, paid, now)
        await conn.execute(update(_A).where(_A.c.wallet_id == run.wallet_id).values(failures=0))
        await _settle(conn, run, "credited", real_now)
        return _tried("credited", list(settled.deliveries))


async def _provider_of(db: Database, order_id: str) -> str:
    async with db.read() as conn:
        return str(
            (await conn.execute(select(_O.c.provider).where(_O.c.id == order_id))).scalar_one()
        )
