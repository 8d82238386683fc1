"""A merchant's own settings: the display name, the low-balance threshold per environment, and
the daily limit a consent to an unverified app gets by default.

The threshold of an environment is its wallet's own, else the merchant's (``THRESHOLD``); the
hot path's key lookup (``callers._LOOKUP``) says the same in its SQL. The merchant in the
dashboard and an operator over the admin API change them through ``update``, one definition.
"""

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator
from sqlalchemy import ColumnElement, func, null, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..callers import levels_of
from ..ledger import service as ledger
from ..store.engine import Database
from ..store.models import Merchant, Wallet, table_of
from ..values.code_names import Code
from ..values.languages import known
from ..values.model import Model
from ..values.outcome import ApiError, Outcome
from . import names, service

__all__ = [
    "MAX_THRESHOLD_CENTS",
    "MAX_UNVERIFIED_APP_DAILY_CENTS",
    "THRESHOLD",
    "MerchantSettings",
    "SettingsUpdate",
    "get_settings",
    "levels",
    "read",
    "recipient_notices",
    "recipients_language",
    "save_settings",
    "set_recipient_notices",
    "set_recipients_language",
    "unverified_app_budget",
    "unverified_app_daily",
    "update_settings",
]

_M = table_of(Merchant)
_W = table_of(Wallet)

MAX_THRESHOLD_CENTS = 100_000_000
MAX_UNVERIFIED_APP_DAILY_CENTS = 10**12  # as a policy's limit may be
DISPLAY_NAME_MAX = names.NAME_MAX

# The threshold in force for a merchant wallet joined with its merchant.
THRESHOLD: ColumnElement[int] = func.coalesce(
    _W.c.low_balance_threshold_cents, _M.c.low_balance_threshold_cents
)


Env = Literal["staging", "live"]
Threshold = Annotated[int, Field(ge=0, le=MAX_THRESHOLD_CENTS, strict=True)]


class SettingsUpdate(Model):
    """What a merchant may change; an absent field stays as it is. ``display_name`` empty
    clears it (the merchant's name shows again)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    display_name: str | None = Field(default=None, max_length=DISPLAY_NAME_MAX)
    low_balance_threshold_cents: dict[Env, Threshold] | None = Field(
        default=None,
        description="Per environment (staging, live), in cents, 0 to 100,000,000.",
    )
    unverified_app_daily_cents: int | None = Field(
        default=None,
        ge=1,
        le=MAX_UNVERIFIED_APP_DAILY_CENTS,
        strict=True,
        description="The daily limit a consent to an unverified app gets unless the person "
        "widens it, in cents.",
    )

    @field_validator("display_name")
    @classmethod
    def _a_name(cls, value: str | None) -> str | None:
        """Empty clears it; anything else is a name by the rule of names (``names``)."""
        return names.check_name(value) if value else value


@dataclass(frozen=True, slots=True)
class MerchantSettings:
    name: str
    display_name: str | None
    low_balance_threshold_cents: dict[str, int]  # env -> cents in force
    # The merchant's own default daily limit for unverified apps; ``None``: the setting's.
    unverified_app_daily_cents: int | None = None

    @property
    def shown_name(self) -> str:
        return names.display_name(self)


async def read(conn: AsyncConnection, merchant_id: str) -> MerchantSettings | None:
    rows = (
        await conn.execute(
            select(
                _M.c.name,
                _M.c.display_name,
                _M.c.unverified_app_daily_cents,
                _W.c.env,
                THRESHOLD.label("threshold"),
            )
            .join(_W, _W.c.owner == ledger.merchant_owner(merchant_id))
            .where(_M.c.id == merchant_id)
        )
    ).all()
    if not rows:
        return None
    return MerchantSettings(
        rows[0].name,
        rows[0].display_name,
        {r.env: int(r.threshold) for r in rows},
        rows[0].unverified_app_daily_cents,
    )


async def unverified_app_daily(conn: AsyncConnection, merchant_id: str, default: int) -> int:
    """The daily limit, in cents, a consent of ``merchant_id`` to an unverified app gets unless
    the person widens it: the merchant's own, else ``default``
    (``AITOPUP_UNVERIFIED_APP_DAILY_CENTS``)."""
    own = (
        await conn.execute(select(_M.c.unverified_app_daily_cents).where(_M.c.id == merchant_id))
    ).scalar_one_or_none()
    return default if own is None else int(own)


async def levels(conn: AsyncConnection, merchant_id: str, env: str) -> tuple[int, ...]:
    """The low-balance levels in force for the merchant's wallet in ``env``: its list, else
    its one threshold (``callers.Caller.alert_levels``)."""
    found = (
        await conn.execute(
            select(THRESHOLD.label("threshold"), _W.c.low_thresholds_cents)
            .select_from(_W.join(_M, _M.c.id == merchant_id))
            .where(_W.c.owner == ledger.merchant_owner(merchant_id), _W.c.env == env)
        )
    ).one()
    listed = levels_of(found.low_thresholds_cents)
    return (int(found.threshold),) if listed is None else listed


async def update_settings(
    conn: AsyncConnection, merchant_id: str, change: SettingsUpdate
) -> MerchantSettings | None:
    """Apply ``change``; the settings after it, or ``None`` for an unknown merchant."""
    if change.display_name is not None:
        await conn.execute(
            update(_M)
            .where(_M.c.id == merchant_id)
            .values(display_name=change.display_name or None)
        )
    if change.unverified_app_daily_cents is not None:
        await conn.execute(
            update(_M)
            .where(_M.c.id == merchant_id)
            .values(unverified_app_daily_cents=change.unverified_app_daily_cents)
        )
    for env, cents in (change.low_balance_threshold_cents or {}).items():
        await conn.execute(
            update(_W)
            .where(_W.c.owner == ledger.merchant_owner(merchant_id), _W.c.env == env)
            # The one threshold is the list again (``billing.wallet.alerts``).
            .values(low_balance_threshold_cents=cents, low_thresholds_cents=null())
        )
    return await read(conn, merchant_id)


# --- Operations: the dashboard's settings and mail pages, each in its own read or transaction.


async def get_settings(db: Database, merchant_id: str) -> Outcome:
    """The merchant's settings (``MerchantSettings``)."""
    async with db.read() as conn:
        found = await read(conn, merchant_id)
    return Outcome(Code.SUCCESS, found)


async def save_settings(db: Database, merchant_id: str, change: SettingsUpdate) -> Outcome:
    """``change`` applied; the settings after it."""
    async with db.transaction() as conn:
        found = await update_settings(conn, merchant_id, change)
    return Outcome(Code.SUCCESS, found)


async def unverified_app_budget(db: Database, merchant_id: str, default: int) -> Outcome:
    """The daily limit, in cents (an ``int``), a consent of ``merchant_id`` to an unverified
    app gets by default: what the consent page fills in (``unverified_app_daily``)."""
    async with db.read() as conn:
        found = await unverified_app_daily(conn, merchant_id, default)
    return Outcome(Code.SUCCESS, found)


async def recipient_notices(db: Database, merchant_id: str) -> Outcome:
    """Whether the merchant's recipients get the voucher e-mail (a ``bool``)."""
    async with db.read() as conn:
        on = await service.notify_recipients(conn, merchant_id)
    return Outcome(Code.SUCCESS, on)


async def set_recipient_notices(db: Database, merchant_id: str, on: bool) -> Outcome:
    async with db.transaction() as conn:
        await service.set_notify_recipients(conn, merchant_id, on)
    return Outcome(Code.SUCCESS, on)


async def recipients_language(db: Database, merchant_id: str) -> Outcome:
    """The language the merchant set for its recipients' page and e-mails (a ``str``), or no
    data: each reader's browser's."""
    async with db.read() as conn:
        found = await conn.execute(select(_M.c.language).where(_M.c.id == merchant_id))
        return Outcome(Code.SUCCESS, known(found.scalar_one_or_none()))


async def set_recipients_language(db: Database, merchant_id: str, language: str | None) -> Outcome:
    """Set it; ``None`` (or an empty choice) leaves it to each reader's browser.
    ``LANGUAGE_UNKNOWN``, nothing changed, for any other value."""
    chosen = known(language) if language else None
    if language and chosen is None:
        raise ApiError(Code.LANGUAGE_UNKNOWN)
    async with db.transaction() as conn:
        await conn.execute(update(_M).where(_M.c.id == merchant_id).values(language=chosen))
    return Outcome(Code.SUCCESS, chosen)
