"""A merchant wallet's low-balance levels: ``GET``/``PUT /wallet/alerts``.

Up to ``MAX_LEVELS`` distinct levels, each 1 cent to ``MAX_THRESHOLD_CENTS``, told by
``balance.low`` as debits cross them and by one ``balance.recovered`` when the balance is back
(``ledger.alerts``). The list is kept on the wallet (``low_thresholds_cents``); the one
``low_balance_threshold_cents`` every earlier surface reads and sets stays its compatible face:
setting the list sets it to the highest level (0 for none), and setting it alone makes the list
that one level again (``merchants.preferences``).
"""

from typing import Annotated

from pydantic import ConfigDict, Field, StrictInt, field_validator
from sqlalchemy import select, update

from ...callers import Caller, levels_of
from ...ledger.alerts import MAX_LEVELS
from ...merchants.preferences import MAX_THRESHOLD_CENTS
from ...store.engine import Database
from ...store.models import Wallet, table_of
from ...values.clock import utcnow
from ...values.code_names import Code
from ...values.model import Model
from ...values.outcome import Outcome

__all__ = ["WalletAlertsData", "WalletAlertsRequest", "read", "save"]

_W = table_of(Wallet)

Level = Annotated[StrictInt, Field(ge=1, le=MAX_THRESHOLD_CENTS)]


class WalletAlertsRequest(Model):
    """The wallet's levels, in cents, in any order: each is told once as a debit takes the
    balance below it. Empty: no low-balance alert."""

    model_config = ConfigDict(extra="forbid")

    thresholds_cents: list[Level] = Field(max_length=MAX_LEVELS)

    @field_validator("thresholds_cents")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("each level may be given once")
        return sorted(value, reverse=True)


class WalletAlertsData(Model):
    env: str
    thresholds_cents: list[int] = Field(description="Highest first.")
    low_balance_threshold_cents: int = Field(
        description="Deprecated: the highest level (0: none), thresholds_cents[0], under the "
        "setting's first name; it means this wherever it appears (balance.low included, where "
        "the level crossed is threshold_cents).",
        json_schema_extra={"deprecated": True},
    )
    told_cents: int | None = Field(
        description="The lowest level told since the balance was last at or above every level "
        "crossed; null: none told, or recovered since."
    )
    balance_cents: int


async def _read(db: Database, caller: Caller) -> WalletAlertsData:
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(
                    _W.c.balance_cents,
                    _W.c.low_thresholds_cents,
                    _W.c.low_balance_threshold_cents,
                    _W.c.low_told_cents,
                ).where(_W.c.id == caller.wallet_id)
            )
        ).one()
    levels = levels_of(row.low_thresholds_cents)
    if levels is None:
        one = row.low_balance_threshold_cents
        levels = (caller.low_balance_threshold_cents if one is None else int(one),)
    shown = [level for level in levels if level > 0]
    return WalletAlertsData(
        env=caller.env,
        thresholds_cents=shown,
        low_balance_threshold_cents=shown[0] if shown else 0,
        told_cents=row.low_told_cents,
        balance_cents=int(row.balance_cents),
    )


async def read(db: Database, caller: Caller) -> Outcome:
    return Outcome(Code.SUCCESS, await _read(db, caller))


async def save(db: Database, caller: Caller, body: WalletAlertsRequest) -> Outcome:
    """Replace the levels of the caller's wallet, from its next change of balance; a period
    under way (levels told, not yet recovered) ends as it began, at its own highest level."""
    levels = body.thresholds_cents
    async with db.transaction() as conn:
        await conn.execute(
            update(_W)
            .where(_W.c.id == caller.wallet_id)
            .values(
                low_thresholds_cents=levels,
                low_balance_threshold_cents=levels[0] if levels else 0,
                updated_at=utcnow(),
            )
        )
    return Outcome(Code.SUCCESS, await _read(db, caller))
