"""What a key's policy may hold for a person to decide, each a row of its own table written
``pending_approval`` with its ``approval_expires_at``: a send (``TOPUP``, ``topup.approvals``)
or a payment to a seller (``PAYMENT``, ``payments.sellers.approvals``). An approval link names
exactly one of them (``approval_links.topup_id`` or ``payment_id``); ``describe`` is what its
approvers are told of it, by mail and in Telegram."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..mail.content import expires_text
from ..store.models import ApiKeyRow, ApprovalLink, SellerPayment, Topup, table_of
from ..values import statuses
from ..values.money import money
from ..values.platforms import name_of

__all__ = [
    "HELD",
    "KINDS",
    "PAYMENT",
    "TOPUP",
    "Described",
    "Kind",
    "describe",
    "held_now",
    "kind_named",
]

_L, _K = table_of(ApprovalLink), table_of(ApiKeyRow)
HELD = statuses.HELD  # the one status a held row of either table waits in


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of held row: ``name`` (``topup``, ``payment``), its table, the link's column
    that names such a row, and the word a person reads for it."""

    name: str
    table: Table
    link: Column[Any]
    noun: str


TOPUP = Kind("topup", table_of(Topup), _L.c.topup_id, "send")
PAYMENT = Kind("payment", table_of(SellerPayment), _L.c.payment_id, "payment")
KINDS = (TOPUP, PAYMENT)


def kind_named(name: str) -> Kind:
    return next(kind for kind in KINDS if kind.name == name)


def held_now(kind: Kind, now: datetime) -> Any:
    """A row of ``kind`` still held, its window open at ``now`` (SQL)."""
    return (kind.table.c.status == HELD) & (kind.table.c.approval_expires_at > now)


@dataclass(frozen=True, slots=True)
class Described:
    """A held row as its approvers are told of it: its merchant and environment, when its hold
    ends, the line posted to Telegram and what its approval mail says (``mail.rows``)."""

    merchant_id: str
    env: str
    expires: datetime
    text: str
    mail: dict[str, Any]


async def describe(
    conn: AsyncConnection, kind: Kind, held_id: str, now: datetime
) -> Described | None:
    """``held_id`` of ``kind`` as its approvers are told of it; ``None`` unless still held with
    its window open at ``now``."""
    t = kind.table
    row = (
        await conn.execute(
            select(t, _K.c.name.label("key_name"), _K.c.display_prefix)
            .outerjoin(_K, _K.c.id == t.c.api_key_id)
            .where(t.c.id == held_id)
        )
    ).first()
    if row is None or row.status != HELD or row.approval_expires_at is None:
        return None
    if row.approval_expires_at <= now:
        return None
    key = f"{row.key_name or '(unnamed)'} {row.display_prefix or ''}"
    ends = expires_text(row.approval_expires_at)
    common = {
        "amount": money(row.amount_cents),
        "key": row.key_name or "",
        "key_prefix": row.display_prefix or "",
        "env": row.env,
        "expires": ends,
    }
    if kind is PAYMENT:
        # The seller's challenge may end long before the hold does (minutes, not a day): an
        # approval after it pays nothing and releases the payment, so the approver is told when.
        lapses = expires_text(row.expires_at) if row.expires_at < row.approval_expires_at else ""
        late = (
            f" The seller's offer lapses {lapses}: approved after that, nothing is paid and the "
            "amount goes back to the wallet."
            if lapses
            else ""
        )
        text = (
            f"Held for your approval ({row.env}): a payment of {money(row.amount_cents)} to "
            f"{row.destination} ({row.payee}) for {row.url}, asked for by the key {key}, "
            f"payment {row.id}. The hold expires {ends}.{late}"
        )
        mail = {
            **common,
            "payment_id": row.id,
            "recipient": row.destination,
            "payee": row.payee,
            "url": row.url,
            "lapses": lapses,
        }
    else:
        text = (
            f"Held for your approval ({row.env}): {money(row.amount_cents)} of "
            f"{name_of(row.platform)} credit to {row.recipient_email}, sent by the key {key}, "
            f"top-up {row.id}. The hold expires {ends}."
        )
        mail = {
            **common,
            "transaction_id": row.id,
            "recipient": row.recipient_email,
            "platform": name_of(row.platform),
        }
    return Described(row.merchant_id, row.env, row.approval_expires_at, text, mail)
