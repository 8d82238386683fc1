"""What a recipient's page shows: their wallets and top-ups at one merchant, in one environment,
and nothing of any other merchant's (every read is by merchant, environment and address). The
top-ups are those made until the link's own (``RecipientLink.upto``): a send after the link was
mailed is not on it; a fresh link shows it. A New API code the page learns is used upstream is
recorded as redeemed first, so the balance shown has it off as a redeemed voucher's has."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from keys import Sealer

from ..ledger import service as ledger
from ..mail.content import redeem_values, redeemed_text
from ..mail.links import RecipientLink
from ..mail.render import redeem_html
from ..mail.vouchers import redeemable, redeemable_provider, topups_with_provider
from ..merchants.names import display_name
from ..store.engine import Database
from ..store.models import Merchant, Topup, Wallet, table_of
from ..topup import vouchers
from ..upstreams import providers
from ..upstreams.allowances import Allowance, Allowances
from ..upstreams.keys import recipient_keys
from ..upstreams.schemas import UpstreamKeyData
from ..values.clock import utcnow
from ..values.languages import DEFAULT, ENGLISH, Catalogues, choose, money_in
from ..values.money import quota_of
from ..values.platforms import PLATFORMS, name_of
from .redeemed import SPENT, Asked, CodeStates

__all__ = ["LIMIT", "Received", "RecipientView", "fingerprint", "view"]

_T = table_of(Topup)
_W = table_of(Wallet)
_MER = table_of(Merchant)

LIMIT = 100  # the newest top-ups shown


@dataclass(frozen=True, slots=True)
class Received:
    id: str
    created_at: datetime
    platform: str
    amount_cents: int
    status: str
    code: str | None
    how: str | None  # "how to redeem", HTML (escaped), once delivered
    provider: str = "voucher"
    redeemed: str | None = None  # a New API code's state: spent, unused, disabled, unknown
    redeemed_at: datetime | None = None  # the voucher redeemed with the merchant: when
    quota: int | None = None  # a New API code's quota (``values.money.quota_of``), beside the cents


@dataclass(frozen=True, slots=True)
class RecipientView:
    merchant: str
    email: str
    env: str
    balances: dict[str, int]  # platform name → cents
    topups: list[Received]
    keys: list[UpstreamKeyData]  # their keys at an upstream (OpenRouter), in clear, for them alone
    language: str = DEFAULT  # what it is read in: the merchant's for them, else their browser's
    # Each OpenRouter key's spending by its label, as OpenRouter says it (``allowances``).
    allowances: dict[str, Allowance] = field(default_factory=dict)


def _owners(link: RecipientLink) -> list[str]:
    return [ledger.recipient_owner(link.merchant_id, p, link.email) for p in PLATFORMS]


def _theirs(link: RecipientLink) -> tuple[Any, ...]:
    where = (
        _T.c.merchant_id == link.merchant_id,
        _T.c.env == link.env,
        _T.c.recipient_email == link.email,
    )
    return where if link.upto is None else (*where, _T.c.created_at <= link.upto)


async def fingerprint(db: Database, link: RecipientLink) -> tuple[Any, ...]:
    """Changes whenever what the page shows may have: their top-ups and wallets."""
    async with db.read() as conn:
        topups = (
            await conn.execute(
                select(func.count(), func.max(_T.c.updated_at)).where(*_theirs(link))
            )
        ).one()
        wallets = (
            await conn.execute(
                select(
                    func.coalesce(func.sum(_W.c.balance_cents), 0), func.max(_W.c.updated_at)
                ).where(_W.c.env == link.env, _W.c.owner.in_(_owners(link)))
            )
        ).one()
    return (*topups, *wallets)


async def _record_spent(
    db: Database, sealer: Sealer, link: RecipientLink, states: CodeStates | None
) -> dict[str, str]:
    """Each code's state by top-up (``spent``, ``unused``, …), where its upstream reads its
    codes (``providers.ReadsCodes``), a code newly seen used recorded as redeemed
    (``vouchers.spent_upstream``: off the recipient's balance as a voucher's redemption takes
    it). A code recorded before is ``spent`` with nothing asked."""
    if states is None:
        return {}
    async with db.read() as conn:
        rows = (
            await conn.execute(
                topups_with_provider().where(*_theirs(link)).order_by(_T.c.id.desc()).limit(LIMIT)
            )
        ).all()
    known: dict[str, str] = {}
    asked = []
    for row in rows:
        given = redeemable(sealer, row)
        reads = isinstance(providers.get(given.provider), providers.ReadsCodes)
        if not reads or given.code is None or not row.fulfil_reference:
            continue
        if row.redeemed_at is not None:
            known[row.id] = SPENT
        else:
            asked.append(Asked(row.id, row.platform, row.fulfil_reference, given.code))
    found = await states.states(db, link.merchant_id, link.env, asked)
    for topup_id, state in found.items():
        if state == SPENT:
            await vouchers.spent_upstream(db, link.merchant_id, link.env, topup_id)
    return {**found, **known}


def _quota(row: Any, provider: str, where: dict[tuple[str, str], dict[str, Any]]) -> int | None:
    """The quota a top-up gave, through an upstream whose codes hold quota, at the rate the
    merchant sets (``Provider.quota_rate``)."""
    found = providers.get(provider)
    saved = where.get((row.platform, provider), {}).get("quota_per_usd")
    rate = None if found is None else found.quota_rate(saved)
    return None if rate is None else quota_of(row.amount_cents, rate)


async def view(
    db: Database,
    sealer: Sealer,
    link: RecipientLink,
    states: CodeStates | None = None,
    *,
    catalogues: Catalogues | None = None,
    header: str | None = None,
    picked: str | None = None,
    allowances: Allowances | None = None,
) -> RecipientView | None:
    """The page of ``link``'s recipient; ``None`` if the merchant is gone. ``states``: where
    New API codes' redemption is read (none: not read). It is in the language the reader
    picked (``picked``), else the one the merchant set for its recipients, else the browser's
    (``header``: its ``Accept-Language``), from ``catalogues`` (none: English).
    ``allowances``: where OpenRouter keys' spending is read (none: not read)."""
    spent = await _record_spent(db, sealer, link, states)
    async with db.read() as conn:
        merchant = (await conn.execute(select(_MER).where(_MER.c.id == link.merchant_id))).first()
        if merchant is None:
            return None
        wallets = (
            await conn.execute(
                select(_W.c.platform, _W.c.balance_cents).where(
                    _W.c.env == link.env, _W.c.owner.in_(_owners(link))
                )
            )
        ).all()
        rows = (
            await conn.execute(
                topups_with_provider().where(*_theirs(link)).order_by(_T.c.id.desc()).limit(LIMIT)
            )
        ).all()
        where: dict[tuple[str, str], dict[str, Any]] = {}  # (platform, provider) → its values
        for row in rows:
            provider = redeemable_provider(row)
            if (row.platform, provider) not in where:
                where[row.platform, provider] = await redeem_values(conn, row, provider)
    name = display_name(merchant)
    reading = ENGLISH
    if catalogues is not None:
        chosen = choose(picked=picked, merchant=merchant.language, header=header)
        reading = catalogues.reading(chosen)
    given_by_row = [(row, redeemable(sealer, row)) for row in rows]
    received = []
    for row, given in given_by_row:
        how = None
        if given.code is not None:
            how = redeem_html(
                {
                    "provider": given.provider,
                    "code": given.code,
                    "sender": name,
                    "amount": money_in(row.amount_cents, reading.language),
                    **where[row.platform, given.provider],
                    "redeemed": redeemed_text(row.redeemed_at),
                },
                reading,
            )
        received.append(
            Received(
                row.id,
                row.created_at,
                row.platform,
                row.amount_cents,
                row.status,
                given.code,
                how,
                given.provider,
                spent.get(row.id),
                row.redeemed_at,
                _quota(row, given.provider, where),
            )
        )
    balances = {name_of(p): 0 for p in PLATFORMS}
    for platform, cents in wallets:
        balances[name_of(platform)] = int(cents)
    keys = await recipient_keys(db, sealer, link.merchant_id, link.env, link.email)
    spending: dict[str, Allowance] = {}
    if allowances is not None and any(allowances.reads(k.provider) for k in keys):
        sent_by = [r.platform for r, given in given_by_row if allowances.reads(given.provider)]
        spending = await allowances.of(
            db, sealer, link.merchant_id, link.env, link.email, sent_by, utcnow()
        )
    return RecipientView(
        name, link.email, link.env, balances, received, keys, reading.language, spending
    )
