"""The operator's treasury, read and set (``payments.treasury``): every environment's rails, their
floats, levels and ledgers, and whether the operator's instrument for each is configured; and a
rail's float and level set, audited. The admin API and ``aitopup treasury`` both run these."""

from pydantic import Field

from ..payments.sellers import treasury
from ..protocols import registry
from ..store.db import Database
from ..values.clock import utcnow
from ..values.codes import Code
from ..values.outcome import Outcome
from ..values.settings import Settings
from .audit import Call, record

__all__ = ["RailState", "rails", "set_rail"]


class RailState(treasury.Rail):
    instrument: bool = Field(
        description="Whether the operator's instrument for the rail is set (live MPP: "
        "AITOPUP_TREASURY_STRIPE_PAYMENT_METHOD; live x402: AITOPUP_TREASURY_X402_KEYS for "
        "AITOPUP_X402_NETWORK; staging pays with test instruments)."
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
    shown = [
        RailState(**rail.model_dump(), instrument=_instrument(settings, rail.env, rail.protocol))
        for rail in found
    ]
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
