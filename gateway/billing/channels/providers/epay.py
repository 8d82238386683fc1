"""Epay: New API's channel, behind the provider interface (the protocol is
``billing.channels.protocols.epay``).

The payer's page is the deployment's ``submit.php``, opened from a signed link; Epay makes no id
before the payer opens it, so ``open`` answers none and the order is known by its own id, which
travels as ``out_trade_no``. Epay charges in its account's currency (CNY for most deployments):
the operator states it and the rate (how many of it one unit of the gateway's currency buys, as
New API's own "price" setting), and the order keeps the charge beside the credit. Both have two
places, as Epay's ``money`` has.

A notification is verified over every field it carries with the merchant's key, in constant
time, and must name this merchant's ``pid``; its ``money`` must then equal the order's charge,
which the order code checks before anything is credited. Epay dates nothing it sends, so a
notification is known by its ``trade_no`` and status: the same one twice is recorded once and
answered ``success`` again, and the order's one conditional update settles it once whatever
arrives. A lost one is found by ``api.php?act=order``. The classic protocol has no refund.
"""

import asyncio
import re
from contextlib import suppress
from decimal import Decimal
from typing import ClassVar
from urllib.parse import parse_qsl

from pydantic import SecretStr, field_validator, model_validator

from ..protocols import epay
from ..protocols.money import converted
from .base import Context, Provider
from .calls import request_json
from .credentials import Credentials, CurrencyCode
from .errors import NoticeMalformed, NoticeRefused, ProviderError
from .messages import Ack, Charge, Inbound, Looked, Notice, Opened, OrderRef, PaymentRequest

__all__ = ["EPAY", "EpayCredentials", "EpayProvider"]

EPAY = "epay"
_RATE = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?")


class EpayCredentials(Credentials):
    """One Epay merchant account: ``pid`` and ``key`` from the deployment's merchant panel,
    ``api_root`` the deployment's address (``submit.php`` and ``api.php`` under it), ``method``
    the payment type offered (``alipay``, ``wxpay``...; none: the deployment's cashier page lets
    the payer choose), ``currency`` the account's and ``rate`` how many of it one unit of the
    gateway's currency buys. A payment that names its own type (New API's ``payment_method``)
    is opened with that one."""

    pid: str
    key: SecretStr
    api_root: str
    method: str | None = None
    currency: CurrencyCode = "CNY"
    rate: str

    def account_id(self) -> str:
        return f"{self.api_root}#{self.pid}"[:255]

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        if not _RATE.fullmatch(value) or Decimal(value) <= 0:
            raise ValueError("the rate is a positive decimal number (at most six places)")
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str | None) -> str | None:
        if value is not None and not epay.METHOD.fullmatch(value):
            raise ValueError("a payment type is 1 to 32 letters, digits or '_'")
        return value or None

    @model_validator(mode="after")
    def _account(self) -> "EpayCredentials":
        problem = epay.account_problem(self.pid, self.key.get_secret_value(), self.api_root)
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def account(self) -> epay.Account:
        return epay.Account(self.pid, self.key.get_secret_value(), self.api_root)


def charged(credentials: EpayCredentials, amount_minor: int, currency: str) -> Charge | None:
    """What Epay charges for ``amount_minor`` of ``currency``: None when it is the same money
    (the account's currency at rate 1), else the amount at the rate, rounded half up to a fen."""
    rate = Decimal(credentials.rate)
    if credentials.currency == currency.upper() and rate == 1:
        return None
    return Charge(converted(amount_minor, rate), credentials.currency, credentials.rate)


def _pairs(inbound: Inbound) -> list[tuple[str, str]]:
    """The notification's fields: its query (Epay's GET), or a form body (deployments that
    POST). Bounded by the route's body limit and by the protocol's field count."""
    if inbound.method == "GET":
        return list(inbound.query.items())
    try:
        return parse_qsl(
            inbound.body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=epay.MAX_FIELDS,
        )
    except UnicodeDecodeError:
        raise NoticeRefused("malformed") from None
    except ValueError:
        raise NoticeRefused("too_large") from None


def _read(ctx: Context[EpayCredentials], inbound: Inbound) -> epay.Notification:
    try:
        return epay.read_notification(_pairs(inbound), ctx.credentials.account)
    except epay.Refused as refused:
        if refused.reason == "malformed":
            raise NoticeMalformed(refused.reason) from None
        raise NoticeRefused(refused.reason) from None


class EpayProvider(Provider[EpayCredentials]):
    name: ClassVar[str] = EPAY
    title: ClassVar[str] = "Epay"
    methods: ClassVar[tuple[str, ...]] = ("Alipay", "WeChat Pay")
    credentials: ClassVar[type[Credentials]] = EpayCredentials
    can_look_up: ClassVar[bool] = True
    notify_methods: ClassVar[frozenset[str]] = frozenset({"GET", "POST"})
    body_limit: ClassVar[int] = epay.MAX_NOTIFICATION_BYTES

    async def open(self, ctx: Context[EpayCredentials], req: PaymentRequest) -> Opened:
        charge = charged(ctx.credentials, req.amount_minor, req.currency)
        try:
            link = epay.payment_link(
                ctx.credentials.account,
                out_trade_no=req.order_id,
                money=req.amount_minor if charge is None else charge.amount_minor,
                name=req.name,
                notify_url=req.notify_url,
                return_url=req.return_url,
                method=req.method or ctx.credentials.method,
            )
        except ValueError as exc:
            raise ProviderError(f"order not payable through Epay: {exc}") from None
        # Epay's page does not expire: the gateway's own TTL holds, and a payment reported
        # after it is still credited (``settles_late``).
        return Opened(link, None, None, charge)

    def verify(self, ctx: Context[EpayCredentials], inbound: Inbound) -> None:
        # Verified but unreadable is no refusal of the sender: ``parse`` says what it is.
        with suppress(NoticeMalformed):
            _read(ctx, inbound)

    def parse(self, ctx: Context[EpayCredentials], inbound: Inbound) -> Notice:
        notification = _read(ctx, inbound)
        return Notice(
            event_id=f"{notification.trade_no}:{notification.trade_status}",
            state="paid" if notification.paid else "ignored",
            order_id=notification.out_trade_no,
            kind=f"notify {notification.trade_status}"[:100],
            payment_id=notification.trade_no,
            amount_minor=notification.money,
            currency=ctx.credentials.currency,
        )

    def ack(self, notice: Notice) -> Ack:
        return Ack(epay.ACK.encode())

    async def look_up(self, ctx: Context[EpayCredentials], order: OrderRef) -> Looked:
        account = ctx.credentials.account
        try:
            # The whole exchange, not each read: a far side that drips its answer is no answer.
            async with asyncio.timeout(ctx.settings.payment_timeout_seconds):
                answer = await request_json(
                    ctx.http,
                    "GET",
                    epay.query_url(account, order.order_id),
                    headers={"Accept": "application/json"},
                )
        except TimeoutError:
            raise ProviderError("Epay's order query: no answer in time", timeout=True) from None
        if answer.status != 200:
            raise ProviderError("Epay's order query was refused", status=answer.status)
        try:
            state = epay.read_order_answer(answer.body, account, order.order_id)
        except epay.NotAnAnswer as exc:
            raise ProviderError(f"Epay's order query: {exc.detail}") from None
        # Epay has no order until the payer opens the link: unknown is still payable here, and
        # the gateway's own expiry ends it.
        words = {"paid": "paid", "open": "unpaid", "unknown": "not_found"}
        return Looked(
            "paid" if state.state == "paid" else "open",
            words[state.state],
            None,
            state.trade_no,
            state.money,
            ctx.credentials.currency,
        )
