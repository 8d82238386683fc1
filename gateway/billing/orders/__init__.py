"""Funding orders: opened (``checkout``, ``invoice``), settled (``settle``: completion and
failure), expired (``expiry``), the payer sent back (``returns``), the coupon uses they hold
(``coupons``), and read (``reads``: an order, the list, the funding history). What a door or
another module uses is named here, so it imports ``billing.orders`` whichever module of the
package holds it.

A live order is paid on the provider's page, which stops taking payment when the order expires
here; the provider's report of a payment may come later (Stripe retries for days), so a paid
report from a provider that ``settles_late`` credits the order whatever the clock says here, even
one expired meanwhile (taking its coupon use again: the payment happened). The sandbox's Pay
button is the moment of payment, so once the order has expired it is refused
(``ORDER_EXPIRED``) by the same conditional UPDATE.
"""

from ..channels.providers.sandbox import sandbox_token
from ..channels.providers.stripe_checkout import SESSION_TTL as STRIPE_SESSION_TTL
from .checkout import Keyed, checkout, invoice, order_prices
from .coupons import check_coupon, coupon_uses
from .expiry import CANCELLED_REASON, EXPIRE_BATCH, EXPIRED_REASON, expire_due, hold_open
from .pricing import MIN_CHARGE_CENTS
from .reads import get_order, history, list_orders, order_data, orders_select
from .returns import DONE_PATH, check_return_urls, done_url, landed_order, landing, order_return_url
from .settle import (
    PAID,
    Paid,
    Settlement,
    complete_order,
    fail_order,
    lost,
    note_provider,
    order_memo,
    payment_matches,
)

__all__ = [
    "CANCELLED_REASON",
    "DONE_PATH",
    "EXPIRED_REASON",
    "EXPIRE_BATCH",
    "MIN_CHARGE_CENTS",
    "PAID",
    "STRIPE_SESSION_TTL",
    "Keyed",
    "Paid",
    "Settlement",
    "check_coupon",
    "check_return_urls",
    "checkout",
    "complete_order",
    "coupon_uses",
    "done_url",
    "expire_due",
    "fail_order",
    "get_order",
    "history",
    "hold_open",
    "invoice",
    "landed_order",
    "landing",
    "list_orders",
    "lost",
    "note_provider",
    "order_data",
    "order_memo",
    "order_prices",
    "order_return_url",
    "orders_select",
    "payment_matches",
    "sandbox_token",
]
