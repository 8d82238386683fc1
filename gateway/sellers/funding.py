"""Who pays a seller, per merchant, environment and rail (protocol): the operations every door
runs (REST's ``/payments/funding``), and the one read the payment makes.

``wallet``, the default: the operator's treasury pays the seller (MPP: a Shared Payment Token
issued on the operator's own payment method; x402: an authorization signed by the operator's
payer key for the network) and the merchant's wallet is debited once, as for every payment.
``own``: the merchant's own instrument pays (its saved card; its own payer key), so the wallet
is not debited; the payment is still judged and counted by the key's policy in every window,
budget and per-payee limit, as one paid from the wallet is (``authorizing``).

What can charge the merchant's card is the merchant's own act: the choice is made by a key of
its own with ``billing:card`` or by a person on the dashboard (``callers.require_card``), never
by an app's token, the key an app manages or a key holding only ``payments:send``."""

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..callers import Caller, require_card
from ..protocols import registry
from ..protocols.base import OWN, WALLET
from ..store import expressions
from ..store.engine import Database
from ..store.models import PaymentFunding, table_of
from ..store.raw import Raw, Statement
from ..values.clock import rfc3339
from ..values.code_names import Code
from ..values.model import Model
from ..values.outcome import ApiError, Outcome

__all__ = ["FUNDED_BY", "FundingData", "FundingSet", "choose", "funded_by", "listed"]

FUNDED_BY = (WALLET, OWN)

_F = table_of(PaymentFunding)


class FundingSet(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    protocol: str = Field(
        min_length=1, max_length=40, description="The rail whose sellers it pays: mpp, x402."
    )
    funded_by: Literal["wallet", "own"] = Field(
        description="`wallet` (the default): the operator's treasury pays the seller and the "
        "wallet is debited. `own`: the merchant's own instrument pays (MPP: its saved card; "
        "x402: its payer key) and the wallet is not debited; the key's limits still count it."
    )


class FundingData(Model):
    """Who pays a rail's sellers for the caller's environment."""

    protocol: str = Field(description="The payment protocol (rail): mpp, x402.")
    env: str
    funded_by: str = Field(description="wallet or own.")
    updated_at: str | None = Field(description="RFC 3339 UTC; null while never chosen.")


_READ = Statement.of(
    select(_F.c.funded_by).where(
        _F.c.merchant_id == expressions.param("merchant_id", String),
        _F.c.env == expressions.param("env", String),
        _F.c.protocol == expressions.param("protocol", String),
    )
)


async def funded_by(tx: Raw, merchant_id: str, env: str, protocol: str) -> str:
    """Who pays ``protocol``'s sellers for the merchant's ``env`` wallet, read in the payment's
    transaction: ``own`` where the merchant chose it, else ``wallet``."""
    rows = await tx.fetch(_READ, {"merchant_id": merchant_id, "env": env, "protocol": protocol})
    return OWN if rows and rows[0]["funded_by"] == OWN else WALLET


def _rails() -> list[str]:
    return [payer.name for payer in registry.payers()]


def _data(protocol: str, env: str, row: Any | None) -> FundingData:
    return FundingData(
        protocol=protocol,
        env=env,
        funded_by=WALLET if row is None else row.funded_by,
        updated_at=None if row is None else rfc3339(row.updated_at),
    )


async def _rows(conn: AsyncConnection, caller: Caller) -> dict[str, Any]:
    query = select(_F).where(_F.c.merchant_id == caller.merchant_id, _F.c.env == caller.env)
    return {row.protocol: row for row in (await conn.execute(query)).all()}


async def listed(db: Database, caller: Caller) -> Outcome:
    """Who pays each rail's sellers for the caller's environment."""
    require_card(caller)
    async with db.read() as conn:
        rows = await _rows(conn, caller)
    env = caller.env
    return Outcome(Code.SUCCESS, [_data(p, env, rows.get(p)) for p in _rails()])


async def choose(db: Database, caller: Caller, body: FundingSet, now: datetime) -> Outcome:
    """``body.funded_by`` pays ``body.protocol``'s sellers for the caller's environment from the
    next payment on; a payment already made keeps who paid it."""
    require_card(caller)
    protocol = body.protocol
    if protocol not in _rails():
        why = f"no payer pays in this protocol: expected one of {_rails()}"
        error = {"loc": ["protocol"], "type": "value_error", "msg": why}
        raise ApiError(Code.VALIDATION_FAILED, f"protocol: {why}", data={"errors": [error]})
    key = {"merchant_id": caller.merchant_id, "env": caller.env, "protocol": protocol}
    values = {**key, "funded_by": body.funded_by, "updated_at": now}
    upsert = expressions.upsert(_F).values(values)
    upsert = upsert.on_conflict_do_update(
        index_elements=list(key), set_={"funded_by": body.funded_by, "updated_at": now}
    )
    async with db.transaction() as conn:
        await conn.execute(upsert)
        rows = await _rows(conn, caller)
    return Outcome(Code.SUCCESS, _data(protocol, caller.env, rows.get(protocol)))
