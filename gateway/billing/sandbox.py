"""The staging sandbox checkout page: what Stripe's hosted page is to live, without the card.

It looks like the dashboard it is reached from: the dashboard's stylesheet (served by the same
gateway, so the page needs no inline style), its header, cards and facts list, money as
``money`` writes it and the one date format (``clock.when``)."""

from datetime import datetime
from html import escape
from typing import Any

from ..values.clock import when
from ..values.money import money

__all__ = ["PATH", "STYLESHEET", "render_done", "render_page"]

PATH = "/api/public/v1/billing/sandbox/checkout"
STYLESHEET = "/dashboard/static/dashboard.css"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox checkout: {name} · aiTopUp</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{stylesheet}">
</head>
<body data-env="staging">
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <span class="brand">aiTopUp</span>
  <span class="status">staging</span>
</header>
<p class="banner sandbox-banner" id="sandbox-note">
  Staging sandbox: no card is charged and no real credits move.
</p>
<main id="main" tabindex="-1" class="narrow">
<h1>{name}</h1>
<section class="card" aria-labelledby="order-h">
  <h2 id="order-h">Checkout</h2>
  <dl class="facts">
    <dt>Order</dt><dd><code>{order_id}</code></dd>
    <dt>Credit</dt>
    <dd id="credit">{credit}
      <span class="muted">({credits} credits, into your staging wallet)</span></dd>
    {discount}<dt>Total</dt><dd><strong id="total">{amount}</strong></dd>
    <dt>Status</dt><dd><span class="status status-{status}" id="status">{status}</span></dd>
    {until}
  </dl>
  {actions}
</section>
</main>
</body>
</html>
"""

_ACTIONS = """<div class="actions">
    <form method="post" action="{pay}">
      <button type="submit" class="primary" id="pay">Pay {amount}</button>
    </form>
    <form method="post" action="{cancel}">
      <button type="submit" id="cancel">Cancel</button>
    </form>
  </div>"""


def _money(cents: int, currency: str) -> str:
    """The dashboard's format for dollars; another currency is named after the figure."""
    shown = money(cents)
    return shown if currency.upper() == "USD" else f"{shown.replace('$', '')} {currency}"


def render_page(order: Any, token: str, now: datetime) -> str:
    """The order as it stands at ``now``: one past its expiry shows as expired, without buttons
    (Pay would be refused), whether or not the sweep has marked it yet."""
    amount = _money(order.amount_cents, order.currency)
    discount = ""
    if order.discount_cents:
        price = escape(_money(order.price_cents, order.currency))
        off = escape(_money(order.discount_cents, order.currency))
        discount = f"<dt>Price</dt><dd>{price}</dd>\n    <dt>Discount</dt><dd>-{off}</dd>\n    "
    status, until = order.status, ""
    if status == "pending" and order.expires_at is not None:
        if order.expires_at <= now:
            status = "expired"
        else:
            until = f"<dt>Pay before</dt><dd>{escape(when(order.expires_at, now))}</dd>"
    actions = ""
    if status == "pending":
        base = f"{PATH}/{order.id}"
        actions = _ACTIONS.format(
            pay=escape(f"{base}/pay?token={token}"),
            cancel=escape(f"{base}/cancel?token={token}"),
            amount=escape(amount),
        )
    name = order.pack_name or ""
    return _PAGE.format(
        stylesheet=STYLESHEET,
        name=escape(f"{name} pack" if order.pack_id else name),
        credits=f"{order.credits:,}",
        credit=escape(_money(order.credit_cents, "USD")),
        amount=escape(amount),
        discount=discount,
        order_id=escape(order.id),
        status=escape(status),
        until=until,
        actions=actions,
    )


_DONE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · aiTopUp</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{stylesheet}">
</head>
<body data-env="{env}">
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <span class="brand">aiTopUp</span>
  <span class="status">{env}</span>
</header>
<main id="main" tabindex="-1" class="narrow">
<h1>{title}</h1>
<section class="card" aria-labelledby="order-h">
  <h2 id="order-h">Checkout</h2>
  <p id="outcome" data-status="{status}">{sentence}</p>
  <dl class="facts">
    <dt>Order</dt><dd><code>{order_id}</code></dd>
    <dt>Status</dt><dd><span class="status status-{status}" id="status">{status}</span></dd>
  </dl>
</section>
</main>
</body>
</html>
"""


def render_done(order: Any, *, cancelled: bool) -> str:
    """Where a payer lands after a checkout made without return URLs: whether the wallet was
    funded (what was credited), is still waiting for the payment, or nothing was charged. It
    shows the order's id, status and credit, nothing else."""
    credit = escape(_money(order.credit_cents, "USD"))
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
    return _DONE.format(
        stylesheet=STYLESHEET,
        env=escape(str(order.env)),
        title=escape(title),
        sentence=sentence,
        order_id=escape(str(order.id)),
        status=escape(status),
    )
