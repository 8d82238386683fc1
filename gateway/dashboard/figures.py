"""What the dashboard's pages read: small queries over the store, each scoped to the viewer's
merchant and environment (``Caller``), never a rule of their own. Balances come from the ledger's
wallet row, changes go through the services.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import false, func, select, true

from ..accounts import sessions
from ..callers import Caller
from ..holds import registry
from ..store.engine import Database
from ..store.models import (
    ApiKeyRow,
    SellerPayment,
    Topup,
    Wallet,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookInboxRequest,
    table_of,
)
from ..store.paging import RECENT
from ..values.clock import id_floor, utcnow

__all__ = [
    "Health",
    "fingerprint",
    "pending_approvals",
    "webhook_health",
]

_T = table_of(Topup)
_K = table_of(ApiKeyRow)
_W = table_of(Wallet)
_D = table_of(WebhookDelivery)
_EP = table_of(WebhookEndpoint)
_IR = table_of(WebhookInboxRequest)
_SP = table_of(SellerPayment)

_FAILURE_WINDOW = timedelta(hours=24)
_RECENT = 200


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    id: str
    event_type: str
    url: str
    attempts: int
    last_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class Health:
    enabled: int
    disabled: list[tuple[str, str | None]]  # (url, reason)
    failed_recently: int
    recent_failures: list[FailedDelivery]


async def webhook_health(db: Database, caller: Caller) -> Health:
    """Endpoints enabled and disabled (with why), and deliveries that failed for good in the
    last day."""
    since = utcnow() - _FAILURE_WINDOW
    mine = (_EP.c.merchant_id == caller.merchant_id, _EP.c.env == caller.env)
    failed = (
        _D.c.merchant_id == caller.merchant_id,
        _D.c.env == caller.env,
        _D.c.status == "failed",
        _D.c.updated_at >= since,
    )
    async with db.read() as conn:
        endpoints = (
            await conn.execute(
                select(_EP.c.url, _EP.c.enabled, _EP.c.disabled_reason).where(
                    *mine, _EP.c.deleted_at.is_(None)
                )
            )
        ).all()
        count = (await conn.execute(select(func.count()).where(*failed))).scalar_one()
        recent = (
            await conn.execute(
                select(_D.c.id, _D.c.event_type, _EP.c.url, _D.c.attempts, _D.c.last_attempt_at)
                .join(_EP, _EP.c.id == _D.c.endpoint_id)
                .where(*failed)
                .order_by(_D.c.updated_at.desc())
                .limit(5)
            )
        ).all()
    return Health(
        enabled=sum(1 for e in endpoints if e.enabled),
        disabled=[(e.url, e.disabled_reason) for e in endpoints if not e.enabled],
        failed_recently=int(count),
        recent_failures=[FailedDelivery(*row) for row in recent],
    )


def _newest_change(table: Any, *where: Any) -> Any:
    """The latest ``updated_at`` among the newest ``_RECENT`` rows by id: an index range, not
    a scan of the merchant's history (an older row changing is not on the overview anyway)."""
    recent = (
        select(table.c.updated_at).where(*where).order_by(table.c.id.desc()).limit(_RECENT)
    ).subquery()
    return select(func.max(recent.c.updated_at)).scalar_subquery()


async def fingerprint(db: Database, caller: Caller) -> tuple[Any, ...]:
    """Changes whenever what the overview or the navigation shows may have: the wallet, a
    recent top-up, payment to a seller or delivery, an endpoint, the count of sends awaiting
    approval, and in staging the test inbox's newest request. One cheap statement, so a live
    page can ask every second."""
    topups = (_T.c.merchant_id == caller.merchant_id, _T.c.env == caller.env)
    # The last two weeks' deliveries: on PostgreSQL, planned over their weeks' partitions only
    # (``store.paging.RECENT``), where the page asks every second.
    deliveries = (
        _D.c.merchant_id == caller.merchant_id,
        _D.c.env == caller.env,
        _D.c.id >= id_floor("dlv", utcnow() - RECENT),
    )
    stmt = select(
        select(_W.c.balance_cents).where(_W.c.id == caller.wallet_id).scalar_subquery(),
        select(_W.c.updated_at).where(_W.c.id == caller.wallet_id).scalar_subquery(),
        select(func.max(_T.c.id)).where(*topups).scalar_subquery(),
        _newest_change(_T, *topups),
        _newest_change(_D, *deliveries),
        _newest_change(_SP, _SP.c.merchant_id == caller.merchant_id, _SP.c.env == caller.env),
        select(func.max(_EP.c.updated_at))
        .where(_EP.c.merchant_id == caller.merchant_id, _EP.c.env == caller.env)
        .scalar_subquery(),
        sessions.held_for_approval(caller.merchant_id, caller.env, registry.held_tables()),
        select(func.max(_IR.c.id))
        .where(
            _IR.c.merchant_id == caller.merchant_id, true() if caller.env == "staging" else false()
        )
        .scalar_subquery(),
    )
    async with db.read() as conn:
        return tuple((await conn.execute(stmt)).one())


async def pending_approvals(db: Database, caller: Caller) -> int:
    """The navigation's count of sends awaiting approval, as the session reads it."""
    async with db.read() as conn:
        found = await conn.execute(
            select(
                sessions.held_for_approval(caller.merchant_id, caller.env, registry.held_tables())
            )
        )
        return int(found.scalar_one())
