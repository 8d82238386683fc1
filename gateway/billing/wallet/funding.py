"""Money into and out of a merchant wallet outside a send: checkout, redemption, adjustment.

Each change writes the balance, its ledger entry and its outbox events in the caller's
transaction, exactly as a send does, so webhooks report every credit and the balance is always
the sum of the entries.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncConnection

from ... import outbox
from ...ledger import alerts, giveback, grants
from ...ledger import service as ledger
from ...merchants import preferences
from ...store.compose import Plan, Step, steps
from ...store.expressions import param
from ...store.raw import raw

__all__ = ["Moved", "credit_merchant", "debit_merchant"]

CREDITED = "wallet.credited"
DEBITED = "wallet.debited"


@dataclass(slots=True)
class Moved:
    """The wallet's balance after the change, and the deliveries to wake the workers for after
    commit."""

    balance_cents: int
    delivery_ids: list[str] = field(default_factory=list)


def _event_data(
    env: str, amount: int, balance: int | str, source: str, reference: str, memo: str | None
) -> dict[str, object]:
    return {
        "env": env,
        "amount_cents": amount,
        "balance_cents": balance,
        "currency": "USD",
        "source": source,
        "reference": reference,
        "description": memo,
    }


async def credit_merchant(
    conn: AsyncConnection,
    *,
    env: str,
    merchant_id: str,
    amount: int,
    source: str,
    reference: str,
    memo: str | None,
    now: datetime,
    grant: grants.Grant | None,
) -> Moved:
    """Credit ``amount`` (> 0) as ``grant`` (its category, priority and expiry); ``source`` is
    the ledger kind: checkout, redemption, adjustment. ``None``: a give-back of the debit
    ``reference`` (an app's charge refunded), back to the grants it was drawn from
    (``giveback``). Emits ``wallet.credited``, ``credit.expired`` for what of it expired at
    once, and ``balance.recovered`` when the credit ends a low period."""
    assert amount > 0
    wallet_id, _ = await ledger.ensure_wallet(conn, env, merchant_id, now)
    balance = await ledger.credit(conn, wallet_id, amount, now, grant)
    await ledger.append(conn, [ledger.Entry(wallet_id, env, amount, source, reference, memo)], now)
    expired: list[str] = []
    if grant is None:
        expired = await giveback.give_back(
            conn, wallet_id=wallet_id, reference=reference, amount=amount, now=now
        )
    deliveries = await outbox.emit(
        conn,
        env=env,
        merchant_id=merchant_id,
        type_=CREDITED,
        data=_event_data(env, amount, balance, source, reference, memo),
        now=now,
    )
    recovered = await alerts.recover(
        conn, wallet_id=wallet_id, merchant_id=merchant_id, env=env, now=now
    )
    return Moved(balance, [*deliveries, *expired, *recovered])


def _debit_plan() -> Plan:
    """The conditional debit, its entry, ``wallet.debited`` with the balance after, and
    ``balance.low`` on crossing: the same rules as a send's."""
    line = ledger.Line(ledger.merchant_wallet(), -ledger.amount(), param("kind", String))
    return Plan(
        steps(
            Step("debit", ledger.conditional_debit, required=True),
            Step(
                "entries",
                lambda r: ledger.entries(
                    ledger.numbered(
                        r.col("debit", ledger.COUNT),
                        ledger.given_back(line, r.col("debit", ledger.THROUGH)),
                    ),
                    after=r.after("debit"),
                ),
            ),
            outbox.event_steps(
                "event",
                after=lambda r: r.after("debit"),
                balance_after=lambda r: r.col("debit", "balance_cents"),
            ),
            alerts.balance_low_steps("debit"),
        )
    )


_DEBIT = _debit_plan()


async def debit_merchant(
    conn: AsyncConnection,
    *,
    env: str,
    merchant_id: str,
    amount: int,
    source: str,
    reference: str,
    memo: str | None,
    now: datetime,
) -> Moved | None:
    """Take ``amount`` (> 0) if the wallet holds it, else ``None`` and nothing changed.

    Emits ``wallet.debited``, and ``balance.low`` when this change crosses the merchant's
    threshold from at-or-above to below, as a send would.
    """
    assert amount > 0
    wallet = await ledger.balance(conn, env, ledger.merchant_owner(merchant_id))
    if wallet is None:
        return None
    levels = await preferences.levels(conn, merchant_id, env)
    data = _event_data(env, -amount, outbox.BALANCE_MARK, source, reference, memo)
    params = {
        "wallet_id": wallet.wallet_id,
        "amount": amount,
        "taken": amount,
        "now": now,
        "env": env,
        "merchant_id": merchant_id,
        "kind": source,
        "reference": reference,
        "memo": memo,
        **outbox.event_params(DEBITED, now, env, data),
        **alerts.low_params(env, levels, now),
    }
    applied = await _DEBIT.run(await raw(conn), params)
    if applied is None:
        return None
    after = applied.one("debit")
    assert after is not None
    return Moved(int(after["balance_cents"]), applied.ids("event_deliveries", "low_deliveries"))
