"""Where a merchant manages its subscription: the portal of the channel it was opened
through (``Provider.open_portal``) in live, the sandbox's own page in staging."""

from typing import Any

from sqlalchemy import select

from ...callers import Caller
from ...store.engine import Database
from ...store.models import Subscription, table_of
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from ...values.settings import Settings
from ..channels import offering
from ..channels import registry as channels
from ..channels.providers.sandbox import subscription_url
from ..channels.registry import NotSupported
from ..orders import check_return_urls
from . import open_checkouts
from .schemas import PortalData

__all__ = ["open_portal"]

_S = table_of(Subscription)


async def open_portal(
    db: Database,
    settings: Settings,
    caller: Caller,
    return_url: str,
    *,
    own_origin: str | None = None,
) -> Outcome:
    """Where the merchant manages its subscription: Stripe's billing portal, or the portal of
    the channel it was opened through (live); the sandbox's own page (staging)."""
    check_return_urls(settings, caller.env, {"return_url": return_url}, own_origin=own_origin)
    async with db.read() as conn:
        sub = (
            await conn.execute(
                select(_S)
                .where(
                    _S.c.merchant_id == caller.merchant_id,
                    _S.c.env == caller.env,
                    _S.c.status.in_(("active", "past_due")),
                )
                .limit(1)
            )
        ).first()
        refused = None if sub is not None else await open_checkouts.open_refusal(conn, caller)
    if refused is not None:
        raise refused
    if sub is None:
        raise ApiError(Code.SUBSCRIPTION_NOT_FOUND)
    if channels.is_stand_in(sub.provider):
        return Outcome(
            Code.SUCCESS,
            PortalData(url=subscription_url(settings, sub.id, "portal"), channel=sub.provider),
        )
    if sub.provider_customer_id is None:
        raise ApiError(Code.SUBSCRIPTION_NOT_FOUND)
    return Outcome(
        Code.SUCCESS,
        PortalData(url=await _channel_portal(db, settings, sub, return_url), channel=sub.provider),
    )


async def _channel_portal(db: Database, settings: Settings, sub: Any, return_url: str) -> str:
    """The portal of the channel ``sub`` was opened through (``Provider.open_portal``), or the
    refusal that says the channel has none."""
    provider = offering.known(sub.provider)
    credentials = await offering.credentials_for(db, settings, provider, sub.env)
    if credentials is None:
        raise ApiError(Code.PAYMENT_CHANNEL_NOT_CONFIGURED, data={"channel": provider.name})
    try:
        async with offering.context(settings, sub.env, credentials) as ctx:
            return await provider.open_portal(ctx, sub.provider_customer_id, return_url)
    except NotSupported:
        raise ApiError(
            Code.PAYMENT_CHANNEL_KIND_UNSUPPORTED, data={"channel": provider.name, "kind": "portal"}
        ) from None
