"""What a checkout costs: one rule for a pack or a custom amount, its discount tier and its coupon.

The order stores the ``Quote`` field for field, the Stripe session's line item is its
``amount_cents``, and the receipt reads the order: so the three agree to the cent because they
are one computation, made once, at checkout.

- A pack is sold at its price; discount tiers are for custom amounts (a pack's price is its own
  offer already).
- A custom amount lands in the wallet whole (``credit_cents`` = the amount asked for); the tier
  reached by that amount takes its percent off the price, rounded down to the cent.
- A coupon then takes its percent (or its fixed amount) off what the tier left; a coupon bound to
  a pack never applies to a custom amount. Nothing may take the charge below Stripe's smallest.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...values import memos
from ...values.code_names import Code
from ...values.outcome import ApiError
from ...values.settings import Settings

__all__ = [
    "CUSTOM_NAME",
    "MIN_CHARGE_CENTS",
    "Quote",
    "check_amount",
    "check_usable",
    "quote",
    "tier_percent",
]

# Stripe's smallest USD charge: no discount may take a price below it.
MIN_CHARGE_CENTS = 50
# How a custom amount is named on the order, the Stripe line item and the receipt.
CUSTOM_NAME = memos.CUSTOM_AMOUNT


@dataclass(frozen=True, slots=True)
class Quote:
    pack_id: str | None
    name: str
    credits: int
    credit_cents: int
    price_cents: int
    tier_percent: int
    tier_discount_cents: int
    discount_cents: int  # the coupon's
    amount_cents: int  # what the payer is charged
    currency: str


def check_usable(coupon: Any, now: datetime) -> None:
    if coupon is None or not coupon.active:
        raise ApiError(Code.COUPON_NOT_FOUND)
    if coupon.expires_at is not None and coupon.expires_at <= now:
        raise ApiError(Code.COUPON_EXPIRED)


def check_amount(settings: Settings, amount_cents: int) -> None:
    """A custom amount within the settings, or the refusal saying what is allowed."""
    if not settings.funding_custom_amounts:
        raise ApiError(Code.CUSTOM_AMOUNT_OFF)
    low, high, step = (
        settings.funding_min_cents,
        settings.funding_max_cents,
        settings.funding_step_cents,
    )
    if not low <= amount_cents <= high or amount_cents % step:
        raise ApiError(
            Code.CUSTOM_AMOUNT_INVALID,
            f"amount_cents must be from {low} to {high}, in steps of {step}",
            data={"min_cents": low, "max_cents": high, "step_cents": step},
        )


def tier_percent(settings: Settings, amount_cents: int) -> int:
    """The percent off of the highest tier ``amount_cents`` reaches (0 below every tier)."""
    percent = 0
    for at, off in settings.funding_tiers:
        if amount_cents >= at:
            percent = off
    return percent


def _coupon_off(coupon: Any, price: int) -> int:
    if coupon.percent_off is not None:
        return int(price * coupon.percent_off // 100)
    return int(min(coupon.amount_off_cents, price))


def quote(
    settings: Settings,
    *,
    pack: Any | None,
    amount_cents: int | None,
    coupon: Any | None,
    now: datetime,
) -> Quote:
    """The price of a pack (``pack``) or of a custom amount (``amount_cents``), with ``coupon``
    (a ``coupons`` row, or None) applied; refusals as ``ApiError``. Uses are counted when one is
    taken, not here."""
    if pack is not None:
        base = Quote(
            pack.id,
            pack.name,
            int(pack.credits),
            int(pack.credit_cents),
            int(pack.price_cents),
            0,
            0,
            0,
            int(pack.price_cents),
            pack.currency,
        )
    else:
        assert amount_cents is not None
        check_amount(settings, amount_cents)
        percent = tier_percent(settings, amount_cents)
        # Never below Stripe's smallest charge, whatever the tiers say.
        tier_off = min(amount_cents * percent // 100, amount_cents - MIN_CHARGE_CENTS)
        base = Quote(
            None,
            CUSTOM_NAME,
            amount_cents * 10,
            amount_cents,
            amount_cents,
            percent,
            tier_off,
            0,
            amount_cents - tier_off,
            "USD",
        )
    if coupon is None:
        return base
    check_usable(coupon, now)
    if coupon.pack_id is not None and coupon.pack_id != base.pack_id:
        raise ApiError(Code.COUPON_NOT_APPLICABLE, "Coupon does not apply to this pack or amount")
    off = _coupon_off(coupon, base.amount_cents)
    if base.amount_cents - off < MIN_CHARGE_CENTS:
        raise ApiError(
            Code.COUPON_NOT_APPLICABLE,
            f"Coupon would take the price below {MIN_CHARGE_CENTS} cents",
        )
    return Quote(
        base.pack_id,
        base.name,
        base.credits,
        base.credit_cents,
        base.price_cents,
        base.tier_percent,
        base.tier_discount_cents,
        off,
        base.amount_cents - off,
        base.currency,
    )
