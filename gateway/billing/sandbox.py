"""The staging sandbox checkout page: what a channel's hosted page is to live, without the card.

One page for every channel, titled for the one the order names (``Provider.title`` and
``methods``), in the shell every billing page shares (``pages``): the dashboard's stylesheet,
its header, cards and facts list, money as ``money`` writes it and the one date format
(``clock.when``)."""

from datetime import datetime
from typing import Any

from ..values.clock import when
from ..values.money import money
from . import pages, providers
from .pages import STYLESHEET
from .providers.sandbox import PATH, SANDBOX

__all__ = ["PATH", "STYLESHEET", "render_done", "render_page"]


def _money(cents: int, currency: str) -> str:
    """The dashboard's format for dollars; another currency is named after the figure."""
    shown = money(cents)
    return shown if currency.upper() == "USD" else f"{shown.replace('$', '')} {currency}"


def render_page(order: Any, token: str, now: datetime) -> str:
    """The order as it stands at ``now``: one past its expiry shows as expired, without buttons
    (Pay would be refused), whether or not the sweep has marked it yet. Titled for the channel
    the sandbox stands in for (the order's), with the methods a payer would pick there."""
    status, until = order.status, None
    if status == "pending" and order.expires_at is not None:
        if order.expires_at <= now:
            status = "expired"
        else:
            until = when(order.expires_at, now)
    pay = cancel = None
    if status == "pending":
        base = f"{PATH}/{order.id}"
        pay, cancel = f"{base}/pay?token={token}", f"{base}/cancel?token={token}"
    channel = providers.get(getattr(order, "channel", None) or SANDBOX)
    standing_in = channel is not None and channel.name != SANDBOX
    name = order.pack_name or ""
    title = f"{name} pack" if order.pack_id else name
    return pages.render(
        "sandbox_checkout.html",
        title=f"{channel.title} checkout: {title}" if standing_in and channel else title,
        env="staging",
        stand_in=True,
        channel=channel.name if standing_in and channel else None,
        channel_title=channel.title if standing_in and channel else None,
        methods=list(channel.methods) if standing_in and channel else [],
        order_id=order.id,
        credits=f"{order.credits:,}",
        credit=_money(order.credit_cents, "USD"),
        amount=_money(order.amount_cents, order.currency),
        discount=_money(order.discount_cents, order.currency) if order.discount_cents else None,
        price=_money(order.price_cents, order.currency),
        status=status,
        until=until,
        pay=pay,
        cancel=cancel,
    )


def render_done(order: Any, *, cancelled: bool) -> str:
    """Where a payer lands after a checkout made without return URLs: whether the wallet was
    funded (what was credited), is still waiting for the payment, or nothing was charged. It
    shows the order's id, status and credit, nothing else."""
    credit = _money(order.credit_cents, "USD")
    status = str(order.status)
    if status == "completed":
        title, sentence = "Wallet funded", f"Paid: {credit} credited to the wallet."
    elif status == "pending" and not cancelled:
        title = "Payment pending"
        sentence = (
            f"The payment is not confirmed yet: {credit} is credited to the wallet once it is. "
            "Reload this page to see."
        )
    elif status == "pending" or status == "failed":
        title, sentence = "Payment cancelled", "The payment was cancelled: nothing was charged."
    else:
        title, sentence = "Checkout expired", "The checkout expired unpaid: nothing was charged."
    return pages.render(
        "checkout_done.html",
        title=title,
        env=str(order.env),
        sentence=sentence,
        order_id=str(order.id),
        status=status,
    )
