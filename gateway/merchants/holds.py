"""A revoked or expired credential's held work: the sends and payments it asked for that wait
for a person's approval (``pending_approval``) are ended with it.

Revoking a key (or a consent, whose tokens act as one) closes the approval window of everything
it holds, in the revocation's own transaction (``close``): from that commit no decision can
approve it (a decision's move requires the window open), and the worker's expiry, due at once,
gives the money back as a window's close does (``topup.approval_expired``,
``payment.expired``: refunded to the wallet and the key's windows). A payment approved for a
revoked key would make a credential nobody can be shown (the key is refused from its next
request), and a send approved would spend on a credential its owner ended: so neither is
approved once its key is revoked, and a decision says why (``refuse_if_ended``: 2319), before
the window's own refusal. A decision that committed before the revocation stands: it was made
while the key was live.

Every revocation goes through ``close``: a key (``service.revoke_key``: the API, the dashboard,
the admin API, the command line, a managed key's rotation or end), a consent with its tokens and
its managed key (``keys.revoke_consents``: an app's connection, an app deleted, a member gone),
and the keys a member gave (``accounts.members``).

A key that simply expires (its policy's ``expires_at``, or its template's, passed) ends what it
holds the same way: no decision approves it from its expiry on (``refuse_if_ended``: 2325), and
the worker's approvals sweep closes its windows (``close_expired``), so the expiry gives the
money back, the grants it was drawn from restored, as a revocation's does.
"""

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..policies.templates import effective_of
from ..store.held import Closing, closings
from ..store.models import ApiKeyRow, PolicyTemplate, table_of
from ..values.code_names import Code
from ..values.outcome import ApiError

__all__ = ["close", "close_expired", "close_overdue", "refuse_if_ended"]

_K, _PT = table_of(ApiKeyRow), table_of(PolicyTemplate)


async def _work_due(
    conn: AsyncConnection, kind: Closing, held: Any, now: datetime, *, later: bool = False
) -> None:
    """The work of the held rows ``held`` selects (their ids) made due at ``now``, for a kind
    whose own work ends a held row at its window's close (``later``: only work due after)."""
    if kind.work is None:
        return
    work = kind.work.table
    which = [kind.work.in_(held), *([work.c.next_attempt_at > now] if later else [])]
    await conn.execute(
        sa.update(work)
        .where(*which)
        .values(status="due", next_attempt_at=now, generation=work.c.generation + 1, updated_at=now)
    )


async def close_overdue(conn: AsyncConnection, now: datetime, longest: timedelta) -> None:
    """The sweep: the window of every row of every kind held since before ``now - longest``
    (today's approval window, ``AITOPUP_APPROVAL_TTL_SECONDS``) closed at ``now``, its work due
    now, so a hold written under a longer window, or with one past any bound, is given back
    rather than held for ever. A kind whose table does not say when a row was held is left to
    its window."""
    since = now - longest
    for kind in closings():
        t, created = kind.table, kind.created
        if created is None:
            continue
        await conn.execute(
            sa.update(t)
            .where(kind.held, t.c.approval_expires_at > now, created <= since)
            .values(approval_expires_at=now)
        )
        overdue = sa.select(t.c.id).where(
            kind.held, t.c.approval_expires_at == now, created <= since
        )
        await _work_due(conn, kind, overdue, now, later=True)


async def close(conn: AsyncConnection, keys: Any, now: datetime) -> None:
    """Close at ``now`` the approval window of every row of every kind held for the keys whose
    ids ``keys`` selects (a subquery), and make due now the work of a kind whose work ends it:
    the worker expires and gives them back (``worker.expiry``, each kind's ``Hold.expire``)."""
    for kind in closings():
        t = kind.table
        await conn.execute(
            sa.update(t)
            .where(kind.held, t.c.approval_expires_at > now, t.c.api_key_id.in_(keys))
            .values(approval_expires_at=now)
        )
        held = sa.select(t.c.id).where(t.c.api_key_id.in_(keys), kind.held)
        await _work_due(conn, kind, held, now)


def _keys() -> Any:
    """A key's end as its rows say it: revoked, and the policies its expiry is read from."""
    return sa.select(
        _K.c.id, _K.c.revoked_at, _K.c.policy, _PT.c.policy.label("template_policy")
    ).outerjoin(_PT, _PT.c.id == _K.c.template_id)


def _expired(row: Any, now: datetime) -> bool:
    """Whether the key of ``row`` (``_keys``) has expired by ``now``: its effective policy's."""
    expires_at = effective_of(row.policy, row.template_policy).expires_at
    return expires_at is not None and expires_at <= now


async def close_expired(conn: AsyncConnection, now: datetime) -> int:
    """The sweep: every send and payment still held whose key has expired by ``now`` has its
    window closed (``close``), so its expiry gives the money back; how many keys. Only the keys
    holding something are read, by the partial indexes of held work."""
    holding = sa.union(
        *(
            sa.select(kind.table.c.api_key_id).where(
                kind.held, kind.table.c.approval_expires_at > now
            )
            for kind in closings()
        )
    )
    found = await conn.execute(
        _keys().where(_K.c.id.in_(holding.scalar_subquery()), _K.c.revoked_at.is_(None))
    )
    ended = [row.id for row in found.all() if _expired(row, now)]
    if ended:
        await close(conn, sa.select(_K.c.id).where(_K.c.id.in_(ended)), now)
    return len(ended)


async def refuse_if_ended(
    conn: AsyncConnection, key_id: str | None, row: Any, now: datetime
) -> None:
    """Refuse a decision on held ``row`` (a send or a payment) whose key ``key_id`` is revoked
    (2319) or has expired by ``now`` (2325): its hold ended and its amount given back (by the
    worker, if not yet)."""
    if key_id is None:
        return
    found = (await conn.execute(_keys().where(_K.c.id == key_id))).first()
    if found is None:
        return
    if found.revoked_at is not None:
        code = Code.HELD_KEY_REVOKED
    elif _expired(found, now):
        code = Code.HELD_KEY_EXPIRED
    else:
        return
    raise ApiError(
        code,
        data={"id": row.id, "status": row.status},
        transaction_id=row.id,
        status=row.status,
    )
