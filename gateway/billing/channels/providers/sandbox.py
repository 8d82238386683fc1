"""The staging sandbox: what every channel's hosted page is to live, without the money.

Staging pays every channel through it: a checkout through any channel opens the sandbox page
titled for that channel (``billing.orders.sandbox_page``), and its Pay button is the payment
itself, so it is refused once the order has expired (``settles_late`` is false). It is never
offered in live.
Its link carries a token derived from the order id, so nothing extra is stored.

A staging subscription is opened on the sandbox's own page too (``open_subscription``), and
since no one else would renew it, the gateway does (``renews_here``): each period that ended
by the merchant's clock (a staging test clock's, or the wall's) makes the report a provider's
would (``renewal``): paid, under an invoice id of the subscription and the period's number
(``period_invoice``), so it is credited once however often renewals run; past due while the
tester's card fails; canceled at the period's end when asked.
"""

import calendar
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import ClassVar

from ....values.marking import marked
from ....values.public_base import public_base
from ....values.settings import Settings
from .base import Context, Provider
from .credentials import NoCredentials
from .errors import ProviderError
from .messages import (
    Charged,
    Notice,
    NoticeState,
    Opened,
    OrderRef,
    PaymentRequest,
    PeriodNotice,
    Refunded,
    Renewing,
    SavedCharge,
    SubscriptionRequest,
)

__all__ = [
    "PATH",
    "SANDBOX",
    "SUBSCRIPTION_PATH",
    "TEST_CARDS",
    "SandboxProvider",
    "add_interval",
    "period_invoice",
    "period_price",
    "sandbox_token",
    "sandbox_url",
    "subscription_token",
    "subscription_url",
]

SANDBOX = "sandbox"
# The cards a staging merchant may save for auto top-up, named as Stripe's test payment
# methods are, and what charging each does: succeed, or refuse as Stripe's decline codes say.
# The labels are marked: a page shows them in its reader's words (``said``).
TEST_CARDS: dict[str, tuple[str, str | None]] = {
    "pm_card_visa": ("Visa •••• 4242", None),
    "pm_card_chargeDeclined": (marked("Visa •••• 0002 (declines)"), "card_declined"),
    "pm_card_authenticationRequired": (
        marked("Visa •••• 3155 (asks for 3DS)"),
        "authentication_required",
    ),
}
PATH = "/api/public/v1/billing/sandbox/checkout"
SUBSCRIPTION_PATH = "/api/public/v1/subscription/sandbox"


def sandbox_token(settings: Settings, order_id: str) -> str:
    """Proof that the holder was given the sandbox link; derived, so nothing extra is stored."""
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"sandbox-checkout:{order_id}".encode(), hashlib.sha256).hexdigest()


def sandbox_url(settings: Settings, order_id: str) -> str:
    return f"{public_base(settings)}{PATH}/{order_id}?token={sandbox_token(settings, order_id)}"


def subscription_token(settings: Settings, sub_id: str, purpose: str = "checkout") -> str:
    """Proof that the holder was given the sandbox subscription's link (its checkout, or its
    ``portal``); derived, so nothing extra is stored."""
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, f"sandbox-{purpose}:{sub_id}".encode(), hashlib.sha256).hexdigest()


def subscription_url(settings: Settings, sub_id: str, purpose: str = "checkout") -> str:
    token = subscription_token(settings, sub_id, purpose)
    page = "" if purpose == "checkout" else "/portal"
    return f"{public_base(settings)}{SUBSCRIPTION_PATH}/{sub_id}{page}?token={token}"


def add_interval(moment: datetime, interval: str) -> datetime:
    """One period on: a calendar month (the day kept, or the month's last) or a year."""
    if interval == "year":
        years = moment.year + 1
        day = min(moment.day, calendar.monthrange(years, moment.month)[1])
        return moment.replace(year=years, day=day)
    month = moment.month % 12 + 1
    year = moment.year + (moment.month == 12)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_invoice(sub_id: str, number: int) -> str:
    """The invoice id of a sandbox subscription's ``number``th period: the key of its credit."""
    return f"sbx_{sub_id}_{number}"


def period_price(price_monthly: int, price_yearly: int, interval: str) -> int:
    return int(price_monthly if interval == "month" else price_yearly)


class SandboxProvider(Provider[NoCredentials]):
    name: ClassVar[str] = SANDBOX
    title: ClassVar[str] = marked("Sandbox")
    settles_late: ClassVar[bool] = False
    stands_in: ClassVar[bool] = True
    can_refund: ClassVar[bool] = True
    renews_here: ClassVar[bool] = True
    saves_methods: ClassVar[bool] = True

    def enabled_by_default(self, settings: Settings, env: str) -> bool:
        return env == "staging"

    async def open(self, ctx: Context[NoCredentials], req: PaymentRequest) -> Opened:
        ttl = timedelta(seconds=ctx.settings.sandbox_order_ttl_seconds)
        return Opened(sandbox_url(ctx.settings, req.order_id), None, ctx.now + ttl)

    async def open_subscription(
        self, ctx: Context[NoCredentials], req: SubscriptionRequest
    ) -> Opened:
        ttl = timedelta(seconds=ctx.settings.sandbox_order_ttl_seconds)
        return Opened(subscription_url(ctx.settings, req.subscription_id), None, ctx.now + ttl)

    def renewal(self, sub: Renewing, now: datetime) -> Notice | None:
        due = sub.current_period_end
        if sub.status not in ("active", "past_due") or due is None or due > now:
            return None
        if sub.cancel_at_period_end:
            ended = PeriodNotice("canceled", sub.subscription_id)
            return Notice(
                f"{sub.subscription_id}:canceled",
                "ignored",
                None,
                "renewal",
                created=now,
                subscription=ended,
            )
        invoice = period_invoice(sub.subscription_id, sub.periods_paid + 1)
        price = period_price(sub.price_monthly, sub.price_yearly, sub.interval)
        period_end = add_interval(due, sub.interval)
        if sub.card_fails:
            period = PeriodNotice(
                "past_due",
                sub.subscription_id,
                invoice_id=invoice,
                period_start=due,
                period_end=period_end,
            )
            state: NoticeState = "failed"
        else:
            period = PeriodNotice(
                "paid", sub.subscription_id, invoice_id=invoice, period_end=period_end
            )
            state = "paid"
        return Notice(
            invoice,
            state,
            None,
            "renewal",
            amount_minor=price,
            currency="usd",
            created=now,
            subscription=period,
        )

    async def refund(
        self, ctx: Context[NoCredentials], order: OrderRef, amount_minor: int
    ) -> Refunded:
        # No money moved, so none goes back: refunded at once, its id the same for the same ask.
        return Refunded(f"sandbox_re_{order.order_id}_{order.refunded_minor}", "succeeded")

    async def charge_saved(self, ctx: Context[NoCredentials], req: SavedCharge) -> Charged:
        # No money moves; the card saved says whether the charge succeeds, so a tester can
        # make auto top-up fail (``TEST_CARDS``).
        _, refusal = TEST_CARDS.get(req.payment_method, ("", "card_declined"))
        if refusal is not None:
            raise ProviderError(f"sandbox card refused: {refusal}", status=402, code=refusal)
        return Charged(f"pi_sandbox_{req.key}", req.amount_minor, req.currency)
