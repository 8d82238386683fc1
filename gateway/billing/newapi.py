"""New API's own top-up paths in New API's words: its units, its reply shapes, and which of the
gateway's payment channels a New API ``payment_method`` names.

Nothing here decides anything about money: the operations behind the four paths are the
gateway's own (``service.topup_info``, ``orders.checkout``, ``redemption.redeem``,
``service.list_orders``), with their limits, scopes and isolation. This module converts what goes
in and what comes out, one rule each:

- New API's ``amount`` is whole US dollars (its "USD" display, the default): a payment of
  ``amount`` is a custom amount of ``amount * 100`` cents (``cents_of``).
- New API's credit is quota, ``QUOTA_PER_USD`` (500,000) a dollar: a redemption of ``c`` cents
  answers ``c * 5,000`` quota (``quota_of``), as the ``newapi`` fulfilment provider counts it.
- An order's ``amount`` back is its credit in whole dollars, rounded down, and ``money`` what the
  payer paid, in dollars; the exact cents stay in ``GET /api/public/v1/orders``.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, StrictInt

from ..upstreams.schemas import DEFAULT_QUOTA_PER_USD
from ..values import money
from ..values.code_names import Code
from ..values.model import Model
from ..values.outcome import ApiError
from ..values.settings import Settings
from .channels.providers.epay import EPAY
from .channels.registry import CREEM, SANDBOX, STRIPE
from .orders.pricing import tier_percent
from .schemas import OrderData, TopupInfo

__all__ = [
    "CENTS_PER_AMOUNT",
    "METHODS",
    "QUOTA_PER_USD",
    "Method",
    "NewApiInfo",
    "NewApiInfoReply",
    "NewApiPage",
    "NewApiPageQuery",
    "NewApiPayReply",
    "NewApiPayRequest",
    "NewApiRedeemReply",
    "NewApiRedeemRequest",
    "NewApiRefusal",
    "NewApiSelfReply",
    "NewApiTopUp",
    "PayMethod",
    "cents_of",
    "channel_of",
    "info",
    "page",
    "quota_of",
    "redeemed_message",
]

CENTS_PER_AMOUNT = 100
QUOTA_PER_USD = DEFAULT_QUOTA_PER_USD
# New API's largest page of a list (its page_size); its default is 10.
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
# An order list's deepest offset (``OrdersQuery``), in New API's pages of the largest size.
MAX_PAGE = 100_000


@dataclass(frozen=True, slots=True)
class Method:
    """A New API payment method: the channel that takes it and how New API draws it."""

    channel: str
    name: str
    color: str
    epay_type: str | None = None  # Epay's ``type``, for a method of the Epay channel


# New API's ``payment_method`` → the channel that takes it, the one table: New API's own Stripe
# and Creem, and Epay's payment types (its ``type``: New API's default ``pay_methods``, each a
# method of the Epay channel, passed on to Epay per payment). ``topup/info`` lists a method
# where its channel is offered in the caller's environment; ``pay`` names its channel to the
# checkout, which refuses one that is not. Absent or empty, New API's clients mean the
# instance's default, Stripe here.
METHODS: dict[str, Method] = {
    # New API's words for these two are the channels' names.
    STRIPE: Method(STRIPE, "Stripe", "#635BFF"),
    CREEM: Method(CREEM, "Creem", "#6B7280"),
    "alipay": Method(EPAY, "Alipay", "#1677FF", epay_type="alipay"),
    "wxpay": Method(EPAY, "WeChat Pay", "#07C160", epay_type="wxpay"),
}
_DEFAULT_METHOD = STRIPE
# New API's words for an order's state.
_STATUS = {"completed": "success", "pending": "pending", "failed": "failed", "expired": "expired"}


def cents_of(amount: int) -> int:
    """What ``amount`` (whole US dollars, New API's unit) lands in the wallet, in cents."""
    return amount * CENTS_PER_AMOUNT


def quota_of(cents: int) -> int:
    """``cents`` as New API's quota units, at its default (the unit rule: ``values.money``)."""
    return money.quota_of(cents, QUOTA_PER_USD)


def channel_of(payment_method: str | None) -> Method:
    """The channel a New API ``payment_method`` names (absent: Stripe), whether or not it is on
    here, which the checkout judges; a method of no channel is ``PAYMENT_CHANNEL_UNKNOWN``."""
    method = METHODS.get(payment_method or _DEFAULT_METHOD)
    if method is None:
        raise ApiError(Code.PAYMENT_CHANNEL_UNKNOWN, data={"channel": payment_method})
    return method


def _method_of(order: OrderData) -> str:
    """The ``payment_method`` an order answers to: its channel's own method, or the channel's
    name where it has several (Epay's types are not kept); before channels, the sandbox stood
    in for Stripe. A redemption or an invoice keeps its provider's name."""
    channel = order.channel or order.provider
    if channel == SANDBOX:
        return _DEFAULT_METHOD
    named = [name for name, method in METHODS.items() if method.channel == channel]
    return named[0] if len(named) == 1 else channel


class NewApiPayRequest(Model):
    """New API's ``POST /api/user/pay`` body. Fields New API's clients add (``top_up_code``)
    are ignored, as New API's own JSON binding ignores them."""

    model_config = ConfigDict(extra="ignore")

    amount: StrictInt = Field(
        ge=1,
        le=1_000_000,
        description="Whole US dollars to land in the wallet (New API's unit): a custom amount "
        "of amount * 100 cents, within GET /api/user/topup/info's min_topup and the gateway's "
        "custom-amount step.",
    )
    payment_method: str | None = Field(
        default=None,
        max_length=32,
        description='The channel to pay through: "stripe" (or absent), "creem", or an Epay '
        'payment type ("alipay", "wxpay") for the Epay channel; one whose channel is not on '
        "in the key's environment is refused (GET /api/user/topup/info's pay_methods). "
        "Staging pays every channel on the sandbox's page, titled for the channel.",
    )


class NewApiRedeemRequest(Model):
    """New API's ``POST /api/user/topup`` body: a redemption code."""

    model_config = ConfigDict(extra="ignore", strict=True)

    key: str = Field(min_length=1, max_length=64, description="The redemption code.")


class NewApiPageQuery(Model):
    """New API's paging: ``p`` from 1, ``page_size`` (10 unless given, at most 100)."""

    model_config = ConfigDict(extra="ignore")

    p: int = Field(default=1, ge=1, le=MAX_PAGE)
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    keyword: str | None = Field(
        default=None,
        max_length=64,
        description="New API's search by trade number: not offered here; an empty one is "
        "ignored, any other refused.",
    )


class PayMethod(Model):
    name: str
    type: str
    color: str
    min_topup: str = Field(description="As New API gives it: a string.")


class NewApiInfo(Model):
    """``data`` of ``GET /api/user/topup/info``, New API's fields that say what the gateway
    offers (amounts in whole US dollars)."""

    enable_online_topup: bool = Field(description="Epay's methods are offered (its channel is on).")
    enable_stripe_topup: bool
    enable_creem_topup: bool
    enable_redemption: bool
    pay_methods: list[PayMethod]
    min_topup: int
    stripe_min_topup: int
    amount_options: list[int]
    discount: dict[str, float] = Field(
        description="Amount option → what is paid of it (0.9: 10% off), from the discount tiers."
    )
    creem_products: str = Field(description="JSON text, as New API keeps it.")
    topup_link: str = Field(description="The dashboard's wallet page, to fund by hand.")


class NewApiTopUp(Model):
    """One order as New API lists a top-up."""

    id: int = Field(description="The order's number among the merchant's orders, from 1.")
    user_id: int = Field(description="Always 0: merchants here have no numeric id.")
    amount: int = Field(description="Credit in whole US dollars, rounded down.")
    money: float = Field(description="What the payer paid, in US dollars.")
    trade_no: str = Field(description="The order's id (GET /api/public/v1/orders/{id}).")
    payment_method: str
    payment_provider: str
    create_time: int
    complete_time: int
    status: Literal["pending", "success", "failed", "expired"]


class NewApiPage(Model):
    page: int
    page_size: int
    start_timestamp: int = 0
    end_timestamp: int = 0
    total: int
    items: list[NewApiTopUp]


class NewApiInfoReply(Model):
    success: Literal[True]
    message: str
    data: NewApiInfo


class NewApiPayReply(Model):
    success: Literal[True]
    message: Literal["success"]
    data: str = Field(description="The payment URL, for a person to open.")
    url: str = Field(description="The same URL.")


class NewApiRedeemReply(Model):
    success: Literal[True]
    message: str
    data: int = Field(description="The quota credited (500,000 a US dollar).")


class NewApiSelfReply(Model):
    success: Literal[True]
    message: str
    data: NewApiPage


class NewApiRefusal(Model):
    """Any refusal: nothing changed. ``POST /api/user/pay`` also says it in ``data``, where
    New API's clients of that path read it."""

    success: Literal[False]
    message: str
    data: str | None = None


def info(found: TopupInfo, settings: Settings) -> NewApiInfo:
    """What ``service.topup_info`` answered, in New API's fields."""
    offered = {channel.channel for channel in found.channels}
    methods = [name for name, method in METHODS.items() if method.channel in offered]
    if not found.custom_amounts:  # New API's payments are amounts, never packs
        methods = []
    lowest = -(-found.min_cents // CENTS_PER_AMOUNT)
    options = [c // CENTS_PER_AMOUNT for c in found.amount_options if c % CENTS_PER_AMOUNT == 0]
    discount = {
        str(amount): (100 - percent) / 100
        for amount in options
        if (percent := tier_percent(settings, cents_of(amount)))
    }
    return NewApiInfo(
        enable_online_topup=any(METHODS[m].epay_type for m in methods),
        enable_stripe_topup=STRIPE in methods,
        enable_creem_topup=CREEM in methods,
        enable_redemption=found.redemption,
        pay_methods=[_pay_method(m, lowest) for m in methods],
        min_topup=lowest,
        stripe_min_topup=lowest,
        amount_options=options,
        discount=discount,
        creem_products="[]",
        topup_link=found.wallet_url,
    )


def _pay_method(name: str, lowest: int) -> PayMethod:
    method = METHODS[name]
    return PayMethod(name=method.name, type=name, color=method.color, min_topup=str(lowest))


def _unix(stamp: str | None) -> int:
    return 0 if stamp is None else int(datetime.fromisoformat(stamp).timestamp())


def page(orders: list[OrderData], *, p: int, page_size: int, total: int) -> NewApiPage:
    """A page of ``service.list_orders`` (newest first, at offset ``(p - 1) * page_size``) as
    New API pages top-ups. An order's ``id`` is its place in the merchant's orders of the
    environment, oldest 1: stable, since orders are kept and new ones come last."""
    first = total - (p - 1) * page_size
    return NewApiPage(
        page=p,
        page_size=page_size,
        total=total,
        items=[
            NewApiTopUp(
                id=first - n,
                user_id=0,
                amount=order.credit_cents // CENTS_PER_AMOUNT,
                money=order.amount_cents / CENTS_PER_AMOUNT,
                trade_no=order.id,
                payment_method=_method_of(order),
                payment_provider=order.provider,
                create_time=_unix(order.created_at),
                complete_time=_unix(order.completed_at),
                status=_STATUS[order.status],
            )
            for n, order in enumerate(orders)
        ],
    )


def redeemed_message(cents: int) -> str:
    """What a redemption says it credited (New API's documented ``message``)."""
    return f"Redeemed ${cents / CENTS_PER_AMOUNT:.2f}: {quota_of(cents)} quota credited"
