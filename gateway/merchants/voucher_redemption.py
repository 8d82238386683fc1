"""Where a merchant's users redeem its built-in ``ATU-`` voucher, and one line on how, per
environment: what the voucher e-mail and the recipient's page tell the recipient to do with the
code, in the merchant's own words and link, instead of only "give this code to the merchant".

The address is one a person opens, judged as a checkout's return URL is (https, never an
address inside a network; loopback over http in staging where the gateway allows it, as a
staging webhook). The line is plain text (no markup, no line break), as an upstream's is."""

from typing import Any

from pydantic import ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store.engine import Database
from ..store.expressions import upsert
from ..store.models import VoucherRedemption, table_of
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.model import Model
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from ..webhooks.endpoints import allows_loopback
from ..webhooks.urls import UrlRefused, check_return_url

__all__ = ["MAX_INSTRUCTIONS", "VoucherRedemptionSet", "get", "get_setting", "save"]

_V = table_of(VoucherRedemption)
MAX_INSTRUCTIONS = 300


class VoucherRedemptionSet(Model):
    model_config = ConfigDict(extra="forbid")

    redeem_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="Where your users redeem a voucher (a page a person opens): https, or "
        "loopback over http in staging when the gateway allows it. Null: none.",
    )
    redeem_instructions: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_INSTRUCTIONS,
        pattern=r"^[^<>\x00-\x1f\x7f]*$",
        description="One line of plain text telling the recipient what to do with the code.",
    )


async def get(conn: AsyncConnection, merchant_id: str, env: str) -> VoucherRedemptionSet:
    """The merchant's setting in ``env`` (both null when none is saved)."""
    row: Any = (
        await conn.execute(select(_V).where(_V.c.merchant_id == merchant_id, _V.c.env == env))
    ).first()
    if row is None:
        return VoucherRedemptionSet()
    return VoucherRedemptionSet(
        redeem_url=row.redeem_url, redeem_instructions=row.redeem_instructions
    )


async def get_setting(db: Database, merchant_id: str, env: str) -> Outcome:
    """The merchant's setting in ``env`` (``VoucherRedemptionSet``)."""
    async with db.read() as conn:
        return Outcome(Code.SUCCESS, await get(conn, merchant_id, env))


async def save(
    db: Database, settings: Settings, merchant_id: str, env: str, body: VoucherRedemptionSet
) -> Outcome:
    """Replace the setting of ``env`` whole; both null removes it."""
    if body.redeem_url is not None:
        try:
            check_return_url(
                body.redeem_url,
                allow_loopback=allows_loopback(settings, env),
                own_origins=frozenset(),
            )
        except UrlRefused as exc:
            raise ApiError(
                Code.VALIDATION_FAILED,
                f"Where your users redeem: {exc}",
                data={"errors": [{"loc": ["redeem_url"], "type": "url", "msg": str(exc)}]},
            ) from None
    now = utcnow()
    async with db.transaction() as conn:
        if body.redeem_url is None and body.redeem_instructions is None:
            await conn.execute(delete(_V).where(_V.c.merchant_id == merchant_id, _V.c.env == env))
        else:
            values = {
                "redeem_url": body.redeem_url,
                "redeem_instructions": body.redeem_instructions,
                "updated_at": now,
            }
            await conn.execute(
                upsert(_V)
                .values(merchant_id=merchant_id, env=env, **values)
                .on_conflict_do_update(index_elements=[_V.c.merchant_id, _V.c.env], set_=values)
            )
    return Outcome(Code.SUCCESS, body)
