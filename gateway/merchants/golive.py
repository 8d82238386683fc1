"""The going-live checklist: what a merchant still lacks before live traffic, each a small
function of the store and the settings, so a new condition is one more function in ``CHECKS``.

Each check says whether it is met, in a sentence; the dashboard links each unmet one to where it
is fixed.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..ledger import service as ledger
from ..store.engine import Database
from ..store.models import (
    ApiKeyRow,
    FulfilmentSetting,
    Wallet,
    WebhookDelivery,
    WebhookEndpoint,
    table_of,
)
from ..values.marking import marked
from ..values.settings import Settings, is_loopback

__all__ = ["CHECKS", "Check", "checklist"]

_K = table_of(ApiKeyRow)
_E = table_of(WebhookEndpoint)
_D = table_of(WebhookDelivery)
_W = table_of(Wallet)
_F = table_of(FulfilmentSetting)

State = Literal["done", "missing", "unavailable"]


@dataclass(frozen=True, slots=True)
class Check:
    """``title`` and ``detail`` are marked English (``languages.marked``), translated where
    shown; ``values`` fills the detail's placeholders (``%(base)s``) there."""

    name: str  # stable: the dashboard's link to fix it is chosen by it
    title: str
    state: State
    detail: str
    values: Mapping[str, str] = field(default_factory=dict)

    @property
    def said(self) -> str:
        """The detail in English, its values in place."""
        return self.detail % dict(self.values) if self.values else self.detail


Probe = Callable[[AsyncConnection, Settings, str], Awaitable[Check]]


async def live_key(conn: AsyncConnection, settings: Settings, merchant_id: str) -> Check:
    found = await conn.execute(
        select(_K.c.id)
        .where(_K.c.merchant_id == merchant_id, _K.c.env == "live", _K.c.revoked_at.is_(None))
        .limit(1)
    )
    if found.first() is not None:
        return Check(
            "live_key",
            marked("A live key"),
            "done",
            marked("You have a live key that is not revoked."),
        )
    return Check(
        "live_key", marked("A live key"), "missing", marked("Make a key in live for your agent.")
    )


async def answering_endpoint(conn: AsyncConnection, settings: Settings, merchant_id: str) -> Check:
    title = marked("A live webhook endpoint that answered")
    answered = await conn.execute(
        select(_D.c.id)
        .join(_E, _E.c.id == _D.c.endpoint_id)
        .where(
            _D.c.merchant_id == merchant_id,
            _D.c.env == "live",
            _D.c.status == "succeeded",
            _E.c.deleted_at.is_(None),
        )
        .limit(1)
    )
    if answered.first() is not None:
        return Check(
            "endpoint", title, "done", marked("A live endpoint answered a delivery with 2xx.")
        )
    endpoint = await conn.execute(
        select(_E.c.id)
        .where(_E.c.merchant_id == merchant_id, _E.c.env == "live", _E.c.deleted_at.is_(None))
        .limit(1)
    )
    if endpoint.first() is None:
        return Check(
            "endpoint", title, "missing", marked("Add a live endpoint, then send it a test.")
        )
    return Check(
        "endpoint",
        title,
        "missing",
        marked("No live endpoint has answered yet: send it a test event."),
    )


async def fulfilment(conn: AsyncConnection, settings: Settings, merchant_id: str) -> Check:
    title = marked("Fulfilment configured")
    rows = await conn.execute(
        select(_F.c.platform, _F.c.provider)
        .where(_F.c.merchant_id == merchant_id, _F.c.env == "live")
        .order_by(_F.c.platform)
    )
    # Platform and provider names are the API's own words, shown as they are in every language.
    upstreams = [f"{r.platform} ({r.provider})" for r in rows]
    if upstreams:
        landed = marked("Live top-ups land in %(upstreams)s.")
        return Check("fulfilment", title, "done", landed, {"upstreams": ", ".join(upstreams)})
    return Check(
        "fulfilment",
        title,
        "missing",
        marked(
            "Live top-ups are vouchers your product redeems (POST /vouchers/redeem) when its "
            "user gives one; to land them on an AI platform instead, connect New API or "
            "OpenRouter."
        ),
    )


async def funding(conn: AsyncConnection, settings: Settings, merchant_id: str) -> Check:
    title = marked("Card payments configured, or the live wallet funded")
    balance = (
        await conn.execute(
            select(_W.c.balance_cents).where(
                _W.c.owner == ledger.merchant_owner(merchant_id), _W.c.env == "live"
            )
        )
    ).scalar_one_or_none()
    if balance:
        return Check("funding", title, "done", marked("The live wallet holds credit."))
    if settings.stripe_secret_key is not None:
        return Check(
            "funding", title, "done", marked("Card payments are on: buy a pack to fund it.")
        )
    return Check(
        "funding",
        title,
        "missing",
        marked(
            "The live wallet is empty and card payments are off: redeem a code, or ask the "
            "operator to set up Stripe."
        ),
    )


async def public_address(conn: AsyncConnection, settings: Settings, merchant_id: str) -> Check:
    """Links (in mail, replies, pages) are built on ``AITOPUP_PUBLIC_BASE_URL``: missing when
    it is unset and the gateway listens beyond loopback, so links are a guess; not available
    when it is unset and the gateway serves this machine alone, or was not started by
    ``aitopup serve``, so where others reach it cannot be judged."""
    title = marked("Public address set")
    base = {"base": settings.public_base_url or "the default address"}
    if not settings.public_base_guessed:
        return Check("public_address", title, "done", marked("Links are built on %(base)s."), base)
    host = settings.public_base_url_guessed_for
    if host is None:
        return Check(
            "public_address",
            title,
            "unavailable",
            marked(
                "AITOPUP_PUBLIC_BASE_URL is unset and this gateway was not started by aitopup "
                "serve: where others reach it cannot be judged. Set it to the address people "
                "and agents use."
            ),
        )
    if not is_loopback(host):
        return Check(
            "public_address",
            title,
            "missing",
            marked(
                "AITOPUP_PUBLIC_BASE_URL is unset and the gateway listens on %(host)s: links "
                "are built on a guess (%(base)s) that others may not reach. Ask the operator to "
                "set it to the address people and agents use."
            ),
            {**base, "host": host or "*"},
        )
    return Check(
        "public_address",
        title,
        "unavailable",
        marked(
            "The gateway listens on %(host)s, this machine alone: links are built on %(base)s. "
            "Set AITOPUP_PUBLIC_BASE_URL before others use it."
        ),
        {**base, "host": host},
    )


CHECKS: tuple[Probe, ...] = (live_key, answering_endpoint, fulfilment, funding, public_address)


async def checklist(db: Database, settings: Settings, merchant_id: str) -> list[Check]:
    async with db.read() as conn:
        return [await probe(conn, settings, merchant_id) for probe in CHECKS]
