"""A delivered send's writes as one PostgreSQL statement.

The debit, the recipient's credit, the top-up row, both ledger entries, the event and its
deliveries, and ``balance.low`` when this debit crosses the merchant's threshold, are
data-modifying CTEs of a single statement: one round trip instead of six or more, and, a
statement being a transaction by itself, no BEGIN or COMMIT trips either. Every write selects
from the conditional debit, so when the wallet cannot cover the amount nothing at all is
written. The same rules as the ledger's own functions hold: the debit never takes a balance
below zero, and each balance change has its entry. SQLite has no data-modifying CTEs and runs
the same writes one by one (``service._send``); the tests run both.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..ledger import alerts
from ..ledger import service as ledger
from ..store.raw import Raw, Statement
from ..webhooks import outbox

__all__ = ["Delivered", "send_delivered"]

_AFTER = "$balance_after"  # no other field of a balance.low body can hold this string


def _fan_out(event: str, prefix: str, type_: str) -> str:
    """A pending delivery of the event CTE ``event`` per enabled endpoint subscribed to
    ``type_`` (a fixed type name), with ids ``:<prefix> || endpoint id``."""
    return f"""
        INSERT INTO webhook_deliveries (id, event_id, endpoint_id, env, merchant_id, event_type,
            status, attempts, trigger, run_start, generation, next_attempt_at, created_at,
            updated_at)
        SELECT :{prefix}::text || e.id, {event}.id, e.id, e.env, e.merchant_id, '{type_}',
            'pending', 0, 'auto', 0, 0, :now::timestamptz, :now::timestamptz, :now::timestamptz
        FROM {event} CROSS JOIN webhook_endpoints e
        WHERE e.merchant_id = :merchant_id::text AND e.env = :env::text AND e.enabled
            AND e.deleted_at IS NULL
            AND (e.event_types = '' OR e.event_types LIKE '%,{type_},%')
        RETURNING id"""  # noqa: S608 (fixed names only)


# Parameters carry explicit casts: PostgreSQL cannot deduce one type for a parameter used both
# as a comparison operand and as an INSERT target, nor inside UNION ALL. Only fixed names are
# formatted in; every value is bound.
_SEND = Statement(
    """
    WITH debit AS (
        UPDATE wallets
        SET balance_cents = balance_cents - :amount::bigint, updated_at = :now::timestamptz
        WHERE id = :wallet_id::text AND balance_cents >= :amount::bigint
        RETURNING balance_cents
    ), recipient AS (
        INSERT INTO wallets (id, env, owner, merchant_id, platform, email, balance_cents,
            created_at, updated_at)
        SELECT :recipient_id::text, :env::text, :owner::text, NULL, :platform::text,
            :email::text, :amount::bigint, :now::timestamptz, :now::timestamptz
        FROM debit
        ON CONFLICT (env, owner) DO UPDATE
        SET balance_cents = wallets.balance_cents + EXCLUDED.balance_cents,
            updated_at = EXCLUDED.updated_at
        RETURNING id, balance_cents
    ), topup AS (
        INSERT INTO topups (id, env, merchant_id, api_key_id, platform, amount_cents,
            recipient_email, recipient_wallet_id, status, voucher_sealed,
            recipient_balance_cents, metadata, failure_reason, created_at, updated_at)
        SELECT :txn_id::text, :env::text, :merchant_id::text, :api_key_id::text,
            :platform::text, :amount::bigint, :email::text, recipient.id, 'delivered',
            :voucher::text, recipient.balance_cents, :metadata::json, NULL,
            :now::timestamptz, :now::timestamptz
        FROM recipient
    ), entries AS (
        INSERT INTO ledger_entries (wallet_id, env, amount_cents, kind, reference, memo,
            created_at)
        SELECT :wallet_id::text, :env::text, -:amount::bigint, 'topup_debit', :txn_id::text,
            NULL, :now::timestamptz
        FROM debit
        UNION ALL
        SELECT recipient.id, :env::text, :amount::bigint, 'topup_credit', :txn_id::text, NULL,
            :now::timestamptz
        FROM recipient
    ), event AS (
        INSERT INTO events (id, env, merchant_id, type, payload, created_at)
        SELECT :event_id::text, :env::text, :merchant_id::text, 'topup.delivered',
            :payload::text, :now::timestamptz
        FROM debit
        RETURNING id
    ), deliveries AS ({fan_out}
    ), low AS (
        INSERT INTO events (id, env, merchant_id, type, payload, created_at)
        SELECT :low_event_id::text, :env::text, :merchant_id::text, 'balance.low',
            replace(:low_payload::text, :after_mark::text, debit.balance_cents::text),
            :now::timestamptz
        FROM debit
        WHERE debit.balance_cents < :threshold::bigint
            AND debit.balance_cents + :amount::bigint >= :threshold::bigint
        RETURNING id
    ), low_deliveries AS ({low_fan_out}
    )
    SELECT debit.balance_cents, recipient.id AS recipient_wallet_id,
        recipient.balance_cents AS recipient_balance_cents,
        ARRAY(SELECT id FROM deliveries UNION ALL SELECT id FROM low_deliveries) AS delivery_ids
    FROM debit CROSS JOIN recipient
    """.format(  # noqa: S608
        fan_out=_fan_out("event", "prefix", "topup.delivered"),
        low_fan_out=_fan_out("low", "low_prefix", alerts.BALANCE_LOW),
    )
)


@dataclass(frozen=True, slots=True)
class Delivered:
    merchant_balance_cents: int
    recipient: ledger.Balance
    delivery_ids: list[str]


async def send_delivered(
    conn: Raw,
    *,
    env: str,
    merchant_id: str,
    api_key_id: str,
    wallet_id: str,
    txn_id: str,
    platform: str,
    email: str,
    amount: int,
    voucher_sealed: str,
    metadata: dict[str, str] | None,
    event_data: dict[str, Any],
    low_balance_threshold: int,
    now: datetime,
) -> Delivered | None:
    """``None`` when the wallet cannot cover ``amount``: then nothing was written."""
    event_id = outbox.new_event_id()
    low_id = outbox.new_event_id()
    # The balance after the debit is known only inside the statement: the body is made here,
    # byte for byte as ``alerts.balance_low`` makes it, with a mark the statement replaces.
    low_payload = outbox.event_body(
        low_id, alerts.BALANCE_LOW, now, env, alerts.low_data(_AFTER, low_balance_threshold)
    )
    row = await conn.fetchrow(
        _SEND,
        {
            "amount": amount,
            "now": now,
            "wallet_id": wallet_id,
            "recipient_id": ledger.new_wallet_id(),
            "env": env,
            "owner": ledger.recipient_owner(platform, email),
            "platform": platform,
            "email": email,
            "txn_id": txn_id,
            "merchant_id": merchant_id,
            "api_key_id": api_key_id,
            "voucher": voucher_sealed,
            "metadata": None if metadata is None else json.dumps(metadata),
            "event_id": event_id,
            "payload": outbox.event_body(event_id, "topup.delivered", now, env, event_data),
            "prefix": outbox.delivery_prefix(event_id),
            "threshold": low_balance_threshold,
            "low_event_id": low_id,
            "low_payload": low_payload,
            "after_mark": json.dumps(_AFTER),
            "low_prefix": outbox.delivery_prefix(low_id),
        },
    )
    if row is None:
        return None
    return Delivered(
        int(row["balance_cents"]),
        ledger.Balance(row["recipient_wallet_id"], int(row["recipient_balance_cents"])),
        list(row["delivery_ids"]),
    )
