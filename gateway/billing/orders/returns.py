"""Where a checkout's payer is sent back: the merchant's return URLs, each by the one rule
(``check_return_urls``), and the gateway's own landing pages when none is given (``done_url``)
or while the provider is asked how the payment went (``order_return_url``)."""

from typing import Any

from sqlalchemy import select

from ...store.engine import Database
from ...store.models import FundingOrder, table_of
from ...values.code_names import Code
from ...values.outcome import ApiError
from ...values.public_base import public_base
from ...values.settings import Settings
from ...webhooks.endpoints import allows_loopback
from ...webhooks.urls import UrlRefused, check_return_url, origin_of
from ..channels.providers.stripe_orders import RETURN_PATH

__all__ = [
    "DONE_PATH",
    "check_return_urls",
    "done_url",
    "landed_order",
    "landing",
    "order_return_url",
]

_O = table_of(FundingOrder)


def _own_origins(settings: Settings, *more: str | None) -> frozenset[str]:
    """The gateway's own origins: ``AITOPUP_PUBLIC_BASE_URL``'s, and what a door adds (the
    dashboard's, whose return URLs are its own pages)."""
    found = (origin_of(url) for url in (settings.public_base_url, *more) if url)
    return frozenset(origin for origin in found if origin is not None)


def check_return_urls(
    settings: Settings, env: str, urls: dict[str, str], *, own_origin: str | None = None
) -> None:
    """Where a checkout sends its payer back (``success_url``, ``cancel_url``), each by the one
    rule (``webhooks.urls.check_return_url``): https, or the gateway's own origin; no
    loopback, private or metadata address, loopback allowed in staging as webhooks' is."""
    origins = _own_origins(settings, own_origin)
    loopback = allows_loopback(settings, env)
    for name, url in urls.items():
        try:
            check_return_url(url, allow_loopback=loopback, own_origins=origins)
        except UrlRefused as exc:
            data = {"field": name, **(exc.data() or {})}
            raise ApiError(Code.RETURN_URL_INVALID, f"{name} invalid: {exc}", data=data) from None


def landing(settings: Settings, env: str, url: str | None, *, own_origin: str) -> str | None:
    """A stored return URL the payer may be sent to now: it passes the rule again (an order
    made before the rule holds one that never did), else ``None``."""
    if not url:
        return None
    try:
        check_return_urls(settings, env, {"url": url}, own_origin=own_origin)
    except ApiError:
        return None
    return url


DONE_PATH = "/api/public/v1/billing/checkout/done"


def done_url(settings: Settings, order_id: str, *, cancelled: bool = False) -> str:
    """The gateway's own landing page for a checkout made without return URLs: a person sees
    there whether the wallet was funded (or the payment cancelled); it shows no secret."""
    url = f"{public_base(settings)}{DONE_PATH}?order={order_id}"
    return url + "&cancelled=1" if cancelled else url


def order_return_url(settings: Settings, order_id: str) -> str:
    """Where a channel's payer lands after paying: the gateway looks the order up at the
    provider there, then sends the payer on to the merchant's ``success_url``."""
    return f"{public_base(settings)}{RETURN_PATH}?order={order_id}"


async def landed_order(db: Database, order_id: str) -> Any:
    """The checkout a payer lands back from on the gateway's own page (``done_url``)."""
    async with db.read() as conn:
        order = (
            await conn.execute(select(_O).where(_O.c.id == order_id, _O.c.kind == "checkout"))
        ).first()
    if order is None:
        raise ApiError(Code.ORDER_NOT_FOUND)
    return order
