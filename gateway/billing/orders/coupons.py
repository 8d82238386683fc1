"""A coupon's uses, counted per environment (``coupon_uses``): a staging sandbox checkout never
takes a use a live payer could have had. A use is one conditional upsert, so a limit holds
however many checkouts race; what an order's move does to its use is the move's
(``states.Transition.coupon``)."""

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ...store.engine import Database
from ...store.expressions import upsert
from ...store.models import Coupon, CouponUse, FundingOrder, table_of
from ...values.clock import utcnow
from . import pricing, states

__all__ = [
    "all_held",
    "check_coupon",
    "coupon_uses",
    "follow_move",
    "give_back",
    "take_use",
    "usable_coupon",
]

_C = table_of(Coupon)
_U = table_of(CouponUse)
_O = table_of(FundingOrder)


async def coupon_uses(conn: AsyncConnection, coupon_ids: list[str]) -> dict[str, dict[str, int]]:
    """Uses held per coupon and env: ``{coupon id: {"staging": n, "live": n}}``."""
    found: dict[str, dict[str, int]] = {c: {"staging": 0, "live": 0} for c in coupon_ids}
    if coupon_ids:
        rows = await conn.execute(
            select(_U.c.coupon_id, _U.c.env, _U.c.uses).where(_U.c.coupon_id.in_(coupon_ids))
        )
        for row in rows:
            found[row.coupon_id][row.env] = int(row.uses)
    return found


async def all_held(conn: AsyncConnection, coupon: Any, env: str, now: datetime) -> bool:
    """Whether the env's uses are all held by orders paid or still payable: the checkout's
    look before it asks Stripe for a session. Taking the use decides, in the transaction."""
    if coupon.max_uses is None:
        return False
    held = (await coupon_uses(conn, [coupon.id]))[coupon.id][env]
    if held < coupon.max_uses:
        return False
    due = (
        await conn.execute(
            select(func.count()).where(
                _O.c.coupon_id == coupon.id,
                _O.c.env == env,
                _O.c.status == "pending",
                _O.c.expires_at <= now,
            )
        )
    ).scalar_one()
    return bool(held - int(due) >= coupon.max_uses)


async def take_use(conn: AsyncConnection, coupon_id: str, env: str, limit: int | None) -> bool:
    """One use more for ``env``, if fewer than ``limit`` are held: a conditional upsert, so the
    limit holds however many checkouts race (the loser's condition is judged on the row as the
    winner left it)."""
    stmt = (
        upsert(_U)
        .values(coupon_id=coupon_id, env=env, uses=1)
        .on_conflict_do_update(
            index_elements=[_U.c.coupon_id, _U.c.env],
            set_={"uses": _U.c.uses + 1},
            where=_U.c.uses < limit if limit is not None else None,
        )
        .returning(_U.c.uses)
    )
    return (await conn.execute(stmt)).first() is not None


async def give_back(conn: AsyncConnection, uses: Counter[tuple[str, str]]) -> None:
    for (coupon_id, env), count in uses.items():
        await conn.execute(
            update(_U)
            .where(_U.c.coupon_id == coupon_id, _U.c.env == env)
            .values(uses=case((_U.c.uses >= count, _U.c.uses - count), else_=0))
        )


async def follow_move(conn: AsyncConnection, t: states.Transition, rows: Sequence[Any]) -> None:
    """What move ``t`` does to the coupon uses of the orders it moved (``rows``)."""
    uses = Counter((r.coupon_id, r.env) for r in rows if r.coupon_id is not None)
    if t.coupon == states.GIVE_BACK:
        await give_back(conn, uses)
    elif t.coupon == states.TAKE:
        for coupon_id, env in uses:
            await take_use(conn, coupon_id, env, None)


async def usable_coupon(conn: AsyncConnection, code: str, now: datetime) -> Any:
    """The coupon row ``code`` names (codes are matched upper-case), or the refusal if there is
    none or it cannot be used now."""
    coupon = (await conn.execute(select(_C).where(_C.c.code == code.strip().upper()))).first()
    pricing.check_usable(coupon, now)
    return coupon


async def check_coupon(db: Database, code: str) -> None:
    """A checkout's coupon on its own (found, active, not expired), as ``checkout`` judges it
    first; whether it applies to a pack or amount, and has uses left, only a checkout says."""
    async with db.read() as conn:
        await usable_coupon(conn, code, utcnow())
