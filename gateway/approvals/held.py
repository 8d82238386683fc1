"""What a key's policy may hold for a person to decide: a kind of hold is one ``Hold`` (a send,
``topup.hold``; a payment to a seller, ``sellers.hold``) and one line of the registry
(``holds.registry``), as a payment protocol or a channel is. Every held row waits in its
kind's own table as ``pending_approval`` with its ``approval_expires_at``; everything that
meets holds whatever their kind (the one-time links by mail and Telegram, ``links``; a link's
decision, ``doors``; the dashboard's inbox and the link's page; the kill switch; the expiry)
asks the registry's holds and never names one.

A hold says: what is held (``table``, and the shape of its ids, ``ids``), how its approvers are
told of it (``told``; ``describe`` adds what every kind shares), how its reply says who was
asked (``asked``), how the person deciding reads
it (``review``, with why it was held: ``why``), its approval and its denial (``approve``,
``deny``), its end when its window closes (``due``, ``expire``: the one way a held row of the
kind ends without a decision, whatever closed the window), its cancel by the kill switch
(``cancel_held``), what the inbox lists of it (``inbox``), and how its rows close when the key
that asked for them ends (``closing``)."""

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from re import Pattern
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..callers import Caller
from ..mail.content import expires_text
from ..policies.model import Policy
from ..policies.rules import needs_approval
from ..store.engine import Database
from ..store.held import Closing
from ..store.models import ApiKeyRow, table_of
from ..values import statuses
from ..values.code_names import Code
from ..values.languages import ENGLISH, Reading
from ..values.marking import marked
from ..values.money import money
from ..values.outcome import Outcome

if TYPE_CHECKING:  # a door hands the clients; the worker ending holds loads none of them
    from ..services import Services

__all__ = [
    "HELD",
    "Described",
    "Hold",
    "Inbox",
    "Reasons",
    "Spend",
    "describe",
    "held_now",
    "why",
]

_K = table_of(ApiKeyRow)
HELD = statuses.HELD  # the one status a held row of any kind waits in
# A credential spent by the decision it makes (``links.Ready.spend``), in its transaction at
# ``now``: raises to refuse, and a decision refused after it leaves it unspent.
Spend = Callable[[AsyncConnection, datetime], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Inbox:
    """What the dashboard's inbox shows of one kind: its partial (``template``, under the
    dashboard's templates) with ``context``, whether anything of it waits (``empty``), the ids
    of the rows it lists (``ids``) and of those nobody was asked to decide (``unasked``: the
    inbox marks them, ``links.unasked``)."""

    template: str
    context: dict[str, Any]
    empty: bool
    ids: tuple[str, ...] = ()
    unasked: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Reasons:
    """A kind's words for why a row was held, each a marked sentence said in the reader's words
    (``above`` with the approval line as ``%(line)s``)."""

    above: str  # above the key's approval line
    first: str  # the key's first to this recipient or payee
    policy: str  # the key's policy, whatever else held it
    unbound: str | None = None  # a destination not bound to the origin it names


def why(
    policy: Policy, amount_cents: int, words: Reasons, *, unbound: bool = False
) -> tuple[str, int | None]:
    """Why a row of ``amount_cents`` was held, in its kind's ``words``, and the approval line
    it was above (cents) if that was why, by the key's policy as it acts now (the row keeps no
    copy of the rule that held it)."""
    if needs_approval(policy, amount_cents):
        return words.above, policy.approval_above_cents or 0
    if unbound and words.unbound is not None:
        return words.unbound, None
    if policy.approval_for_new_recipients:
        return words.first, None
    return words.policy, None


class Hold(ABC):
    """One kind of held row. ``name`` is what an approval link records of its kind
    (``approval_links.held_kind``); ``table`` has at least ``id``, ``merchant_id``, ``env``,
    ``api_key_id``, ``amount_cents``, ``status`` and ``approval_expires_at``; ``ids`` matches
    its ids alone; ``page`` names what the link's page shows of it; ``approved_words`` is what
    a Telegram button's press says once it approved one, ``decided`` the statuses a
    decision ordinarily leaves it in (the press names any other), and ``not_held`` the code
    its decision refuses with once the row is no longer held (decided or ended meanwhile)."""

    name: str
    table: Table
    ids: Pattern[str]
    noun: str
    page: str
    approved_words: str = marked("Approved: delivered.")
    decided: tuple[str, ...] = (statuses.DELIVERED, statuses.DENIED)
    not_held: Code = Code.APPROVAL_LINK_INVALID

    def asked(self, outcome: Outcome, count: int) -> Outcome:
        """``outcome``, the reply that held a row of the kind, saying that ``count`` people
        were asked to decide it (``approvers_asked``), where its reply has room for it (by
        default it has none: the reply is said as it was)."""
        return outcome

    @property
    def closing(self) -> Closing:
        """How its held rows close with the key that asked for them (``merchants.holds``):
        by default every row still held, nothing else made due."""
        return Closing(self.table, self.table.c.status == HELD)

    @abstractmethod
    def told(
        self, row: Any, key: str, ends: str, reading: Reading = ENGLISH
    ) -> tuple[str, dict[str, Any]]:
        """Held ``row`` as its approvers are told of it (``key``: the asking key's name and
        prefix; ``ends``: when its hold ends, in words): the line posted to Telegram, in
        ``reading``'s words, and what its approval mail says beside what ``describe`` adds (the
        mail puts it into its reader's words itself)."""

    @abstractmethod
    async def review(self, svc: "Services", caller: Caller, held_id: str) -> Outcome:
        """``held_id`` as the person deciding it reads it, why it was held with it; changes
        nothing."""

    @abstractmethod
    async def approve(
        self, svc: "Services", caller: Caller, held_id: str, *, spend: Spend | None = None
    ) -> Outcome:
        """Approve ``held_id`` as ``caller`` (``spend``: the link it is made with, spent in the
        decision's transaction only if it decides), the workers woken after commit."""

    @abstractmethod
    async def deny(
        self, svc: "Services", caller: Caller, held_id: str, *, spend: Spend | None = None
    ) -> Outcome:
        """Deny ``held_id`` as ``caller``: what it held given back."""

    @abstractmethod
    async def due(self, db: Database, now: datetime, *, limit: int = 500) -> list[str]:
        """Held rows whose window has closed by ``now``, for the expiry to end, oldest first
        (none, for a kind whose own work falls due at the window's close)."""

    @abstractmethod
    async def expire(
        self, db: Database, sealer: Sealer, held_id: str, now: datetime
    ) -> list[str] | None:
        """End ``held_id``, its window closed (by its time or by its key's revocation): what it
        held given back; the deliveries, or ``None`` if it was decided first."""

    @abstractmethod
    async def cancel_held(
        self, conn: AsyncConnection, sealer: Sealer, merchant_id: str, env: str, now: datetime
    ) -> tuple[int, list[str]]:
        """The kill switch's cancel, in the freeze's transaction (which holds the wallet's
        lock): every row of the environment still held ended once; how many, and the
        deliveries."""

    @abstractmethod
    async def inbox(self, svc: "Services", caller: Caller, *, limit: int) -> Inbox:
        """What the dashboard's inbox lists of the caller's environment's held rows."""


def held_now(hold: Hold, now: datetime) -> Any:
    """A row of ``hold`` still held, its window open at ``now`` (SQL)."""
    return (hold.table.c.status == HELD) & (hold.table.c.approval_expires_at > now)


# What stands for a key without a name.
UNNAMED = marked("(unnamed)")


@dataclass(frozen=True, slots=True)
class Described:
    """A held row as its approvers are told of it: its merchant and environment, when its hold
    ends, the line posted to Telegram in a reader's words (``said``; ``text``: in English) and
    what its approval mail says (``mail.rows``)."""

    merchant_id: str
    env: str
    expires: datetime
    said: Callable[[Reading], str]
    mail: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.said(ENGLISH)


async def describe(
    conn: AsyncConnection, hold: Hold, held_id: str, now: datetime
) -> Described | None:
    """``held_id`` of ``hold`` as its approvers are told of it; ``None`` unless still held with
    its window open at ``now``."""
    t = hold.table
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
    ends = expires_text(row.approval_expires_at)

    def said(reading: Reading) -> str:
        key = f"{row.key_name or reading.gettext(UNNAMED)} {row.display_prefix or ''}"
        return hold.told(row, key, ends, reading)[0]

    common = {
        "amount": money(row.amount_cents),
        "amount_cents": row.amount_cents,  # the mail writes it in its reader's language
        "key": row.key_name or "",
        "key_prefix": row.display_prefix or "",
        "env": row.env,
        "expires": ends,
    }
    _, mail = hold.told(row, "", ends)
    return Described(row.merchant_id, row.env, row.approval_expires_at, said, {**common, **mail})
