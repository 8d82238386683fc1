"""A revoked credential's held work: the sends and payments it asked for that wait for a
person's approval (``pending_approval``) are ended with it.

Revoking a key (or a consent, whose tokens act as one) closes the approval window of everything
it holds, in the revocation's own transaction (``close``): from that commit no decision can
approve it (a decision's move requires the window open), and the worker's expiry, due at once,
gives the money back as a window's close does (``topup.approval_expired``,
``payment.expired``: refunded to the wallet and the key's windows). A payment approved for a
revoked key would make a credential nobody can be shown (the key is refused from its next
request), and a send approved would spend on a credential its owner ended: so neither is
approved once its key is revoked, and a decision says why (``refuse_if_revoked``: 2319), before
the window's own refusal. A decision that committed before the revocation stands: it was made
while the key was live.

Every revocation goes through ``close``: a key (``service.revoke_key``: the API, the dashboard,
the admin API, the command line, a managed key's rotation or end), a consent with its tokens and
its managed key (``keys.revoke_consents``: an app's connection, an app deleted, a member gone),
and the keys a member gave (``accounts.members``).
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store.models import (
    AWAITING_APPROVAL,
    ApiKeyRow,
    SellerPayment,
    SellerPaymentWork,
    Topup,
    table_of,
)
from ..values.codes import Code
from ..values.outcome import ApiError
from ..values.statuses import HELD

__all__ = ["close", "refuse_if_revoked"]

_K, _T = table_of(ApiKeyRow), table_of(Topup)
_P, _W = table_of(SellerPayment), table_of(SellerPaymentWork)


async def close(conn: AsyncConnection, keys: Any, now: datetime) -> None:
    """Close at ``now`` the approval window of every send and payment held for the keys whose
    ids ``keys`` selects (a subquery), and make each payment's work due now: the worker expires
    and releases them (``worker.expiry``, ``payments.sellers.holds``)."""
    # A send's status as its partial index of held windows writes it (bound, it would not
    # prove the index's predicate); a payment's table is read by its key's index.
    for table, held_here in ((_T, sa.text(AWAITING_APPROVAL)), (_P, _P.c.status == HELD)):
        await conn.execute(
            sa.update(table)
            .where(held_here, table.c.approval_expires_at > now, table.c.api_key_id.in_(keys))
            .values(approval_expires_at=now)
        )
    held = sa.select(_P.c.id).where(_P.c.api_key_id.in_(keys), _P.c.status == HELD)
    await conn.execute(
        sa.update(_W)
        .where(_W.c.payment_id.in_(held))
        .values(status="due", next_attempt_at=now, generation=_W.c.generation + 1, updated_at=now)
    )


async def refuse_if_revoked(conn: AsyncConnection, key_id: str | None, row: Any) -> None:
    """Refuse a decision on held ``row`` (a send or a payment) whose key ``key_id`` is revoked:
    2319, its hold ended and its amount given back (by the worker, if not yet)."""
    if key_id is None:
        return
    found = await conn.execute(sa.select(_K.c.revoked_at).where(_K.c.id == key_id))
    if found.scalar_one_or_none() is None:
        return
    raise ApiError(
        Code.HELD_KEY_REVOKED,
        data={"id": row.id, "status": row.status},
        transaction_id=row.id,
        status=row.status,
    )
