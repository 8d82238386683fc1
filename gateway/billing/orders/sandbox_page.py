"""The staging sandbox checkout page: what a channel's hosted page is to live, without the card.

One page for every channel, titled for the one the order names (``Provider.title`` and
``methods``), in the shell every billing page shares (``pages``): the dashboard's stylesheet,
its header, cards and facts list, money as the reader's language writes it and the one date
format (``pages.moment``), in the payer's language."""

from datetime import datetime
from typing import Any

from ...values.languages import ENGLISH, Reading, money_in
from ...values.marking import marked
from .. import pages
from ..channels import registry
from ..channels.providers.sandbox import PATH, SANDBOX

__all__ = ["render_done", "render_page"]

_PACK = marked("%(pack)s pack")
_CHANNEL_CHECKOUT = marked("%(channel)s checkout: %(what)s")
_FUNDED = marked("Wallet funded")
_FUNDED_SAID = marked("Paid: %(credit)s credited to the wallet.")
_PENDING = marked("Payment pending")
_PENDING_SAID = marked(
    "The payment is not confirmed yet: %(credit)s is credited to the wallet once it is. "
    "Reload this page to see."
)
_CANCELLED = marked("Payment cancelled")
_CANCELLED_SAID = marked("The payment was cancelled: nothing was charged.")
_EXPIRED = marked("Checkout expired")
_EXPIRED_SAID = marked("The checkout expired unpaid: nothing was charged.")


def _money(cents: int, currency: str, language: str) -> str:
    """Dollars as the reader's language writes them; another currency is named after the
    figure."""
    shown = money_in(cents, language)
    if currency.upper() == "USD":
        return shown
    return f"{money_in(cents, 'en').replace('$', '')} {currency}"


def render_page(order: Any, token: str, now: datetime, reading: Reading = ENGLISH) -> str:
    """The order as it stands at ``now``: one past its expiry shows as expired, without buttons
    (Pay would be refused), whether or not the sweep has marked it yet. Titled for the channel
    the sandbox stands in for (the order's), with the methods a payer would pick there."""
    _, language = reading.gettext, reading.language
    status, until = order.status, None
    if status == "pending" and order.expires_at is not None:
        if order.expires_at <= now:
            status = "expired"
        else:
            until = pages.moment(order.expires_at, now, reading)
    pay = cancel = None
    if status == "pending":
        base = f"{PATH}/{order.id}"
        pay = pages.with_language(f"{base}/pay?token={token}", language)
        cancel = pages.with_language(f"{base}/cancel?token={token}", language)
    channel = registry.get(getattr(order, "channel", None) or SANDBOX)
    standing_in = channel is not None and channel.name != SANDBOX
    name = order.pack_name or ""
    what = _(_PACK) % {"pack": name} if order.pack_id else name
    shown = _(channel.title) if standing_in and channel else None
    return pages.render(
        "sandbox_checkout.html",
        title=_(_CHANNEL_CHECKOUT) % {"channel": shown, "what": what} if shown else what,
        env="staging",
        reading=reading,
        stand_in=True,
        channel=channel.name if standing_in and channel else None,
        channel_title=shown,
        methods=[_(m) for m in channel.methods] if standing_in and channel else [],
        order_id=order.id,
        credits=f"{order.credits:,}",
        credit=_money(order.credit_cents, "USD", language),
        amount=_money(order.amount_cents, order.currency, language),
        discount=(
            _money(order.discount_cents, order.currency, language) if order.discount_cents else None
        ),
        price=_money(order.price_cents, order.currency, language),
        status=status,
        until=until,
        pay=pay,
        cancel=cancel,
    )


def render_done(order: Any, *, cancelled: bool, reading: Reading = ENGLISH) -> str:
    """Where a payer lands after a checkout made without return URLs: whether the wallet was
    funded (what was credited), is still waiting for the payment, or nothing was charged. It
    shows the order's id, status and credit, nothing else."""
    _ = reading.gettext
    credit = _money(order.credit_cents, "USD", reading.language)
    status = str(order.status)
    if status == "completed":
        title, sentence = _(_FUNDED), _(_FUNDED_SAID) % {"credit": credit}
    elif status == "pending" and not cancelled:
        title, sentence = _(_PENDING), _(_PENDING_SAID) % {"credit": credit}
    elif status == "pending" or status == "failed":
        title, sentence = _(_CANCELLED), _(_CANCELLED_SAID)
    else:
        title, sentence = _(_EXPIRED), _(_EXPIRED_SAID)
    return pages.render(
        "checkout_done.html",
        title=title,
        env=str(order.env),
        reading=reading,
        sentence=sentence,
        order_id=str(order.id),
        status=status,
    )
