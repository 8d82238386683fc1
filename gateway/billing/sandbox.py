"""The staging sandbox checkout page: what Stripe's hosted page is to live, without the card."""

import base64
import hashlib
from datetime import datetime
from html import escape
from typing import Any

from ..clock import rfc3339

__all__ = ["PATH", "STYLE_SOURCE", "render_page"]

PATH = "/api/public/v1/billing/sandbox/checkout"

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; }
.note { background: #fff4d6; padding: .75rem; border-radius: .5rem; }
button { font-size: 1rem; padding: .6rem 1.4rem; margin-right: .5rem; }
"""
# The page's one inline stylesheet, as a Content-Security-Policy source: allowed by its hash, so
# nothing else inline is.
STYLE_SOURCE = f"'sha256-{base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()}'"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox checkout: {pack} pack</title>
<style>{style}</style>
</head>
<body>
<p class="note">Staging sandbox: no card is charged and no real credits move.</p>
<h1>{pack} pack</h1>
<p>{credits} credits, {credit} into your staging wallet.</p>
<p>Total: <strong>{amount}</strong>{discount}</p>
<p>Order <code>{order_id}</code>: <strong id="status">{status}</strong>{until}</p>
{actions}
</body>
</html>
"""

_ACTIONS = """<form method="post" action="{pay}">
<button type="submit" id="pay">Pay {amount}</button>
</form>
<form method="post" action="{cancel}">
<button type="submit" id="cancel">Cancel</button>
</form>"""


def _money(cents: int, currency: str) -> str:
    return f"{cents // 100}.{cents % 100:02d} {currency}"


def render_page(order: Any, token: str, now: datetime) -> str:
    """The order as it stands at ``now``: one past its expiry shows as expired, without buttons
    (Pay would be refused), whether or not the sweep has marked it yet."""
    amount = _money(order.amount_cents, order.currency)
    discount = f" (was {_money(order.price_cents, order.currency)})" if order.discount_cents else ""
    status, until = order.status, ""
    if status == "pending" and order.expires_at is not None:
        if order.expires_at <= now:
            status = "expired"
        else:
            until = f", pay before {rfc3339(order.expires_at)}"
    actions = ""
    if status == "pending":
        base = f"{PATH}/{order.id}"
        actions = _ACTIONS.format(
            pay=escape(f"{base}/pay?token={token}"),
            cancel=escape(f"{base}/cancel?token={token}"),
            amount=escape(amount),
        )
    return _PAGE.format(
        style=_STYLE,
        pack=escape(order.pack_name or ""),
        credits=f"{order.credits:,}",
        credit=escape(_money(order.credit_cents, "USD")),
        amount=escape(amount),
        discount=escape(discount),
        order_id=escape(order.id),
        status=escape(status),
        until=escape(until),
        actions=actions,
    )
