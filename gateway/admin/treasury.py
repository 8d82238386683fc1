"""The operator's treasury, read and set (``payments.treasury``): every environment's rails, their
floats, levels and ledgers, the level's alert, the worker's last reconciliation of each, and
whether the operator's instrument for each is configured; and a
rail's float and level set, audited. The admin API and ``aitopup treasury`` both run these."""

import json

import sqlalchemy as sa
from pydantic import Field

from ..protocols import registry
from ..sellers import treasury
from ..store.engine import Database
from ..store.models import TreasuryCheck, table_of
from ..values.clock import rfc3339, utcnow
from ..values.code_names import Code
from ..values.outcome import Outcome
from ..values.settings import Settings
from .audit import Call, record

__all__ = ["RailState", "rails", "set_rail"]

_C = table_of(TreasuryCheck)


class RailState(treasury.Rail):
    reconciled_at: str | None = Field(
        description="When the worker last reconciled the rail against its provider (null: not yet)."
    )
    drifts: int | None = Field(
        description="How many disagreements that reconciliation found between the provider and "
        "the ledger (its payments out, and the provider's balance against what is out)."
    )
    drift_detail: list[str] = Field(description="The first of them, in words.")
    provider_cents: int | None = Field(
        description="The provider's balance of the treasury's instrument at that "
        "reconciliation, in cents, where the provider tells one (x402: the chain's balance of "
        "the treasury's address; MPP: the Stripe account's Issuing balance, where it has "
        "one); null otherwise."
    )
    instrument: bool = Field(
        description="Whether the operator's instrument for the rail is set (live MPP: "
        "AITOPUP_TREASURY_STRIPE_PAYMENT_METHOD; live x402: AITOPUP_TREASURY_X402_KEYS for "
        "AITOPUP_X402_NETWORK, opening under AITOPUP_SECRET_KEY into a key that signs; staging "
        "pays with test instruments)."
    )


def _instrument(settings: Settings, env: str, protocol: str) -> bool:
    if env == "staging":
        return True
    payer = registry.payer(protocol)
    return payer is None or payer.treasury_set(settings)


async def rails(db: Database, settings: Settings) -> Outcome:
    """Every environment's rails as they stand."""
    protocols = [payer.name for payer in registry.payers()]
    async with db.read() as conn:
        found = await treasury.rails(conn, protocols)
        checks = {(r.env, r.protocol): r for r in await conn.execute(sa.select(_C))}
    shown = []
    for rail in found:
        check = checks.get((rail.env, rail.protocol))
        shown.append(
            RailState(
                **rail.model_dump(),
                reconciled_at=None if check is None else rfc3339(check.checked_at),
                drifts=None if check is None else int(check.drifts),
                drift_detail=[] if check is None else json.loads(check.detail),
                provider_cents=None if check is None else check.provider_cents,
                instrument=_instrument(settings, rail.env, rail.protocol),
            )
        )
    return Outcome(Code.SUCCESS, shown)


async def set_rail(db: Database, settings: Settings, call: Call, body: treasury.RailSet) -> Outcome:
    """A rail's float and level set, audited in the same transaction; the rails as they stand."""
    now = utcnow()
    async with db.transaction() as conn:
        await treasury.set_rail(conn, body, now)
        await record(
            conn, call, Code.SUCCESS, now, target_id=body.protocol, details=body.model_dump()
        )
    return await rails(db, settings)
