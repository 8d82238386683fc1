"""Credit grants: a merchant wallet's balance is the sum of its grants' remainders.

Every credit of a merchant wallet makes a grant (``granted`` in a plan, ``Grant`` beside
``ledger.credit``): its category (``paid``, ``promotional``, ``plan``), its priority and its
optional expiry. Every debit draws them down (``draw_steps``) in one order, ``draw_order``:
priority ascending (a lower number is drawn first), then the soonest expiry (a grant that never
expires last), then promotional before plan before paid, then the oldest. ``wallets.balance_cents``
stays the authority a debit checks; the invariant is that it equals the sum of the live grants'
``remaining_cents``, which the draw keeps because it is a step of the same plan as the debit.
Nearly every debit is held whole by the first grant in the order, so that grant alone is drawn
by a plain UPDATE (``draw_first``); only a debit it cannot hold runs the running sum over them
all (``draw``): on SQLite, where each step is a statement of its own, the sum's window and sort
were a send's dearest statement.

Why the draw is safe under concurrency:

- SQLite: one writer runs the plan's statements in order; nothing comes between the debit and
  the draw.
- PostgreSQL runs the plan as one statement, whose snapshot is taken before the debit waits on
  the wallet's row lock. The draw therefore locks the wallet's live grants (``FOR UPDATE``, after
  the debit): a grant another debit drew while this one waited is read as that debit left it.
  What a lock cannot show is a grant made since the snapshot, so every change that makes one
  moves ``wallets.grants_version`` (``ledger.service``), and the debit is conditional on the
  version its own statement read: a debit that raced a new grant finds no row, and the payment
  is run again (``payments.once``, ``billing.wallet.funding``). A void or an expiry only lowers
  a remainder under the wallet's lock, which the draw's own lock reads. The first grant alone
  (``draw_first``) is chosen in the snapshot and checked on the row as it stands: since
  remainders only fall meanwhile, a grant that still holds the debit is still the first.

A void or an expiry takes a grant's remainder out with a ledger entry of its own
(``grant_voided``, ``grant_expired``), under the wallet's lock taken first (``lock_wallet``), so
it is ordered against every debit and happens once however many sweepers race.
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

from ..store.compose import Refs, Step, const, from_rows, param
from ..store.expressions import upsert
from ..store.models import CreditGrant, Wallet, table_of
from ..store.raw import Conn, Construct, Statement, raw
from ..store.types import UTCDateTime
from ..values.codes import Code
from ..values.outcome import ApiError

__all__ = [
    "CATEGORIES",
    "DEFAULT_PRIORITY",
    "EXPIRED_KIND",
    "PAID",
    "RACED_RETRY_AFTER",
    "RACED_TRIES",
    "VOIDED_KIND",
    "Category",
    "Grant",
    "draw",
    "draw_first",
    "draw_order",
    "draw_steps",
    "grant_id",
    "granted",
    "insert",
    "lock_wallet",
    "still_racing",
]

_G = table_of(CreditGrant)
_W = table_of(Wallet)
_INT = BigInteger()

Category = Literal["paid", "promotional", "plan"]
CATEGORIES: Final[tuple[str, ...]] = get_args(Category)
# Stripe's default: 0 is drawn first, 100 last.
DEFAULT_PRIORITY: Final = 50
MAX_PRIORITY: Final = 100
EXPIRED_KIND: Final = "grant_expired"  # the ledger entry of an expired remainder
VOIDED_KIND: Final = "grant_voided"  # the ledger entry of a voided one
# How often a debit that raced a new grant is run in all, and the seconds its caller is told to
# wait when every run raced one (``still_racing``).
RACED_TRIES: Final = 3
RACED_RETRY_AFTER: Final = 1


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


FIRST: Final = "draw_first"  # the step drawing a debit from the first grant alone
REST: Final = "draw"  # the step drawing it over the running sum, when the first was short


def draw_steps(*, after: str) -> list[Step]:
    """A debit's draw, the two steps behind its conditional debit ``after``: from the first
    live grant in the draw order alone when it holds the whole amount (``draw_first``: nearly
    every debit, in one cheap statement), else over the running sum of them all (``draw``).
    Both give what ``draw`` alone would."""
    return [
        Step(FIRST, lambda r: draw_first(r, after=after), counted=True),
        Step(REST, lambda r: draw(r, after=after, unless=FIRST)),
    ]


def _live(table: Any, refs: Refs, after: str) -> list[ColumnElement[bool]]:
    """``table``'s live grants of wallet ``:wallet_id``, once step ``after`` returned a row."""
    return [
        table.c.wallet_id == param("wallet_id", String),
        # A literal, as the live grants' partial index says it: a parameter would not match
        # the index's condition.
        table.c.remaining_cents > literal_column("0"),
        refs.after(after),
    ]


def draw_first(refs: Refs, *, after: str) -> Construct:
    """Draw ``:taken`` from the first live grant of wallet ``:wallet_id`` in the draw order,
    if it holds that much, once step ``after`` has returned a row (a ``counted`` step).

    On PostgreSQL the grant is chosen in the statement's snapshot, which may predate rivals'
    draws, and its remainder is checked again on the row as the last draw left it: remainders
    only fall while the debit holds (a new grant fails the debit, ``grants_version``), so the
    first grant of the snapshot that still holds the amount is still the first live one."""
    g = _G.alias("first")
    first = (
        select(g.c.id)
        .where(*_live(g, refs, after))
        .order_by(*draw_order(g))
        .limit(1)
        .scalar_subquery()
    )
    taken = param("taken", _INT)
    return (
        update(_G)
        .where(_G.c.id == first, _G.c.remaining_cents >= taken)
        .values(remaining_cents=_G.c.remaining_cents - taken)
    )


def draw(refs: Refs, *, after: str, unless: str | None = None) -> Construct:
    """Draw ``:taken`` from the live grants of wallet ``:wallet_id`` in the draw order once
    step ``after`` (its conditional debit) has returned a row, and, with ``unless``, that step
    returned none: one UPDATE over a running sum of the grants locked after the debit. A grant
    the running sum passes before reaching it is untouched; the one it stops in keeps the
    rest."""
    taken = param("taken", _INT)
    live = _live(_G, refs, after)
    if unless is not None:
        live.append(refs.absent(unless))
    locked = (
        select(_G.c.id, _G.c.remaining_cents, *(_G.c[n] for n in _ORDERED))
        .where(*live)
        .with_for_update()
        .subquery("locked")
    )
    through = func.sum(locked.c.remaining_cents).over(order_by=draw_order(locked))
    ranked = select(locked.c.id, through.label("through"), locked.c.remaining_cents).subquery(
        "ranked"
    )
    before = ranked.c.through - ranked.c.remaining_cents
    left = case((ranked.c.through <= taken, literal_column("0")), else_=ranked.c.through - taken)
    return update(_G).where(_G.c.id == ranked.c.id, before < taken).values(remaining_cents=left)


_ORDERED = ("priority", "expires_at", "category", "effective_at")


def still_racing() -> ApiError:
    """The refusal of a debit that raced a new grant each of the ``RACED_TRIES`` times it was
    run. The wallet holds the amount, so ``insufficient_balance`` would be untrue; Stripe
    answers a write it could not settle for concurrent ones with a retryable ``lock_timeout``
    (429) and keeps no idempotent reply for it. So here: nothing was paid, and the same request
    may simply come again after ``Retry-After``."""
    return ApiError(
        Code.WALLET_GRANTS_CHANGING,
        data={"tries": RACED_TRIES},
        headers={"Retry-After": str(RACED_RETRY_AFTER)},
    )


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
    a merchant wallet (a refund, a payee's share, a check-in) writes beside it. Its category
    and priority are fixed names; its expiry none."""
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
    ``ledger.credit``, in the same transaction); its id."""
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


_LOCK = Statement.of(
    select(_W.c.id, _W.c.env, _W.c.merchant_id)
    .where(_W.c.id == param("wallet_id", String))
    .with_for_update()
)


async def lock_wallet(conn: Conn, wallet_id: str) -> dict[str, Any] | None:
    """The wallet's row, locked until the caller's commit (SQLite's one writer does as much):
    what a void or an expiry takes first, so it is ordered against every debit of the wallet
    and reads its grants as the last one left them."""
    return await (await raw(conn)).fetchrow(_LOCK, {"wallet_id": wallet_id})
