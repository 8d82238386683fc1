"""Credit grants: a merchant wallet's balance is the sum of its grants' remainders, less
the debits not yet drawn from them.

Every credit of a merchant wallet makes a grant (``granted`` in a plan, ``Grant`` beside
``ledger.credit``): its category (``paid``, ``promotional``, ``plan``), its priority and its
optional expiry. Debits draw them down in one order, ``draw_order``: priority ascending (a lower
number is drawn first), then the soonest expiry (a grant that never expires last), then
promotional before plan before paid, then the oldest. ``wallets.balance_cents`` stays the
authority a debit checks.

A debit writes no grant: it adds what it took to the wallet's ``undrawn_cents``, on the row it
writes anyway, and every change of the grants draws that sum first (``settle``: the running
sum over the live grants in the draw order), under the wallet's lock, before it changes them.
The invariant: the balance is the live grants' remainders less ``undrawn_cents``. The settle
records what it drew from each grant (``recorded``, ``credit_draws``) as spans of the wallet's
debits in all (``drawn_cents`` grows by what it drew), and a debit that can be given back keeps
its end in that total on its ledger entry (``drawn_through``): its give-back finds the grants it
was drawn from (``giveback``). Drawing a sum
of debits at once draws what drawing them one by one would, because between two changes of the
grants the order is fixed and remainders only fall; and no debit ever waits on a grant's row,
which on PostgreSQL, with every send of a busy merchant queued on its wallet's lock, cost up to a
send in five (``docs/performance.md``).

What settles first, so that the grants never change with debits undrawn:

- a credit: ``ledger.credit`` settles before its grant; a plan that makes one (``granted``)
  begins with ``settle_steps``, statements of their own, so on PostgreSQL the plan's statement
  reads the grants after the wallet's lock is taken, and sees every grant made before it;
- a void or an expiry (``settle``, which takes the wallet's lock first): ordered against every
  debit, and once however many sweepers or operators race;
- a look at the grants (their list), so what is left is shown drawn.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy import insert as insert_into

from ..store.compose import Refs, Step
from ..store.expressions import const, from_rows, param, upsert
from ..store.models import CreditDraw, CreditGrant, Wallet, table_of
from ..store.raw import Conn, Construct, Statement, raw
from ..store.types import UTCDateTime

__all__ = [
    "CATEGORIES",
    "DEFAULT_PRIORITY",
    "EXPIRED_KIND",
    "PAID",
    "VOIDED_KIND",
    "Category",
    "Grant",
    "draw",
    "draw_order",
    "grant_id",
    "granted",
    "insert",
    "recorded",
    "settle",
    "settle_steps",
]

_G = table_of(CreditGrant)
_W = table_of(Wallet)
_D = table_of(CreditDraw)
_INT = BigInteger()

Category = Literal["paid", "promotional", "plan"]
CATEGORIES: Final[tuple[str, ...]] = get_args(Category)
# Stripe's default: 0 is drawn first, 100 last.
DEFAULT_PRIORITY: Final = 50
MAX_PRIORITY: Final = 100
EXPIRED_KIND: Final = "grant_expired"  # the ledger entry of an expired remainder
VOIDED_KIND: Final = "grant_voided"  # the ledger entry of a voided one


@dataclass(frozen=True, slots=True)
class Grant:
    """What a credit becomes: its category, priority and expiry (none: it never expires)."""

    category: Category
    priority: int = DEFAULT_PRIORITY
    expires_at: datetime | None = None


PAID: Final = Grant("paid")  # bought credit, a refund, another merchant's payment


def grant_id(wallet: ColumnElement[Any], number: ColumnElement[Any]) -> ColumnElement[Any]:
    """``cg_<wallet>_<n>``: the grant made with entry ``n`` of its wallet, which a change makes
    once, so no change needs an id more (the wallet's own, less its ``wal_``)."""
    return (
        literal("cg_", String)
        + func.substr(wallet, 5)
        + literal("_", String)
        + cast(number, String)
    )


def _category_rank(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return case(
        (column == const("promotional"), literal_column("0")),
        (column == const("plan"), literal_column("1")),
        else_=literal_column("2"),
    )


def draw_order(table: Any) -> list[ColumnElement[Any]]:
    """The one order grants are drawn in (the module's docstring), on ``table``'s columns."""
    c = table.c
    return [
        c.priority,
        c.expires_at.is_(None),
        c.expires_at,
        _category_rank(c.category),
        c.effective_at,
        c.id,
    ]


def _ranked(wallet: ColumnElement[Any]) -> Any:
    """The live grants of ``wallet``, each with the running sum of
    them in the draw order through it (``through``)."""
    live = (
        select(_G.c.id, _G.c.remaining_cents, *(_G.c[n] for n in _ORDERED))
        .where(
            _G.c.wallet_id == wallet,
            # A literal, as the live grants' partial index says it: a parameter would not match
            # the index's condition.
            _G.c.remaining_cents > literal_column("0"),
        )
        .subquery("live")
    )
    through = func.sum(live.c.remaining_cents).over(order_by=draw_order(live))
    return select(live.c.id, through.label("through"), live.c.remaining_cents).subquery("ranked")


def draw(wallet: ColumnElement[Any], taken: ColumnElement[Any]) -> Construct:
    """Draw ``taken`` from the live grants of ``wallet`` in the draw order: one UPDATE over a
    running sum of them. A grant the running sum passes before reaching ``taken`` is emptied,
    the one it stops in keeps the rest, the ones after are untouched. Run under the wallet's
    lock, which every writer of grants takes first (``settle``)."""
    ranked = _ranked(wallet)
    before = ranked.c.through - ranked.c.remaining_cents
    left = case((ranked.c.through <= taken, literal_column("0")), else_=ranked.c.through - taken)
    return update(_G).where(_G.c.id == ranked.c.id, before < taken).values(remaining_cents=left)


def recorded(
    wallet: ColumnElement[Any], taken: ColumnElement[Any], drawn: ColumnElement[Any]
) -> Construct:
    """What ``draw`` of ``taken`` takes from each grant, as spans of the wallet's debits in all
    (``credit_draws``), the first beginning at ``drawn`` (what was drawn before): written just
    before the draw, which the spans then describe, so a give-back finds the grants a debit was
    drawn from (``giveback``)."""
    ranked = _ranked(wallet)
    before = ranked.c.through - ranked.c.remaining_cents
    upto = case((ranked.c.through <= taken, ranked.c.through), else_=taken)
    spans = select(wallet, ranked.c.id, drawn + before, drawn + upto).where(before < taken)
    return insert_into(_D).from_select(["wallet_id", "grant_id", "from_cents", "to_cents"], spans)


_ORDERED = ("priority", "expires_at", "category", "effective_at")


def _lock(wallet: ColumnElement[Any]) -> Construct:
    return (
        select(
            _W.c.id,
            _W.c.env,
            _W.c.merchant_id,
            _W.c.undrawn_cents,
            _W.c.drawn_cents,
            _W.c.entry_count,
        )
        .where(_W.c.id == wallet)
        .with_for_update()
    )


def _of_wallet(wallet: ColumnElement[Any], column: str) -> ColumnElement[Any]:
    return select(_W.c[column]).where(_W.c.id == wallet).scalar_subquery()


def _record_undrawn(wallet: ColumnElement[Any]) -> Construct:
    undrawn = _of_wallet(wallet, "undrawn_cents")
    return recorded(wallet, undrawn, _of_wallet(wallet, "drawn_cents"))


def _draw_undrawn(wallet: ColumnElement[Any]) -> Construct:
    return draw(wallet, _of_wallet(wallet, "undrawn_cents"))


def _drawn(wallet: ColumnElement[Any]) -> Construct:
    return (
        update(_W)
        .where(_W.c.id == wallet, _W.c.undrawn_cents > literal_column("0"))
        .values(
            undrawn_cents=literal_column("0"), drawn_cents=_W.c.drawn_cents + _W.c.undrawn_cents
        )
    )


def settle_steps(wallet: ColumnElement[Any], *, name: str = "settle") -> list[Step]:
    """``settle`` of ``wallet`` as a plan's first steps (``lock``: each a statement of its own,
    run before the plan's): what a plan that makes a grant (``granted``) begins with."""
    return [
        Step(f"{name}_lock", lambda _: _lock(wallet), lock=True),
        Step(f"{name}_record", lambda _: _record_undrawn(wallet), lock=True),
        Step(f"{name}_draw", lambda _: _draw_undrawn(wallet), lock=True),
        Step(f"{name}_drawn", lambda _: _drawn(wallet), lock=True),
    ]


_WALLET = param("wallet_id", String)
_LOCK = Statement.of(_lock(_WALLET))
_RECORD = Statement.of(recorded(_WALLET, param("taken", _INT), param("drawn", _INT)))
_DRAW = Statement.of(draw(_WALLET, param("taken", _INT)))
_DRAWN = Statement.of(_drawn(_WALLET))


async def settle(conn: Conn, wallet_id: str) -> dict[str, Any] | None:
    """Lock the wallet's row until the caller's commit (SQLite's one writer does as much) and
    draw its undrawn debits from its grants: what every change of a merchant wallet's grants
    takes first, so it is ordered against every debit and finds the grants as the debits so far
    left them. The wallet's ``id``, ``env``, ``merchant_id`` and ``entry_count``; ``None``: no
    such wallet."""
    db = await raw(conn)
    row = await db.fetchrow(_LOCK, {"wallet_id": wallet_id})
    if row is None:
        return None
    taken = int(row["undrawn_cents"])
    if taken:
        drawn = int(row["drawn_cents"])
        await db.count(_RECORD, {"wallet_id": wallet_id, "taken": taken, "drawn": drawn})
        await db.count(_DRAW, {"wallet_id": wallet_id, "taken": taken})
        await db.count(_DRAWN, {"wallet_id": wallet_id})
    return {
        "id": row["id"],
        "env": row["env"],
        "merchant_id": row["merchant_id"],
        "entry_count": row["entry_count"],
    }


def granted(
    refs: Refs,
    *,
    wallet: ColumnElement[Any],
    number: ColumnElement[Any],
    grant: Grant = PAID,
    after: str,
) -> Construct:
    """The grant of ``:amount`` a credit of ``wallet`` made with its entry ``number`` (as the
    credit returned its count), once step ``after`` has returned a row: what a plan's credit of
    a merchant wallet (a refund, a payee's share, a check-in) writes beside it, the plan
    beginning with the wallet's ``settle_steps``. Its category and priority are fixed names;
    its expiry none."""
    assert grant.expires_at is None, "a plan's grant never expires"
    now = param("now", UTCDateTime())
    row = {
        "id": grant_id(wallet, number),
        "wallet_id": wallet,
        "env": param("env", String),
        "category": const(grant.category),
        "priority": literal(grant.priority, _INT),
        "amount_cents": param("amount", _INT),
        "remaining_cents": param("amount", _INT),
        "effective_at": now,
        "created_at": now,
    }
    return from_rows(upsert(_G), [row], where=refs.after(after))


_INSERT = Statement.of(
    upsert(_G).values(
        id=param("grant_id", String),
        wallet_id=param("wallet_id", String),
        env=param("env", String),
        category=param("category", String),
        priority=param("priority", _INT),
        amount_cents=param("amount", _INT),
        remaining_cents=param("amount", _INT),
        effective_at=param("now", UTCDateTime()),
        expires_at=param("expires_at", UTCDateTime()),
        created_at=param("now", UTCDateTime()),
    )
)


async def insert(
    conn: Conn, wallet_id: str, env: str, number: int, amount: int, grant: Grant, now: datetime
) -> str:
    """The grant of ``amount`` made with entry ``number`` of wallet ``wallet_id`` (its credit,
    ``ledger.credit``, in the same transaction, after ``settle``); its id."""
    made = f"cg_{wallet_id[4:]}_{number}"
    await (await raw(conn)).fetch(
        _INSERT,
        {
            "grant_id": made,
            "wallet_id": wallet_id,
            "env": env,
            "category": grant.category,
            "priority": grant.priority,
            "amount": amount,
            "expires_at": grant.expires_at,
            "now": now,
        },
    )
    return made
