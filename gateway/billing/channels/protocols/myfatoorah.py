"""MyFatoorah's v2 API, as it documents it (docs.myfatoorah.com).

Out: ``POST /v2/SendPayment`` with ``NotificationOption: LNK`` makes an invoice and answers its
``InvoiceURL``, where the payer picks KNET, a card or a wallet; ``InvoiceValue`` is stated in
``DisplayCurrencyIso`` (the order's currency) and MyFatoorah converts it to the account's own.
The order id travels as ``CustomerReference`` and ``ExternalIdentifier``. ``CallBackUrl`` and
``ErrorUrl`` bring the payer back with ``paymentId``; that return proves nothing, so the gateway
asks ``POST /v2/GetPaymentStatus {Key, KeyType: InvoiceId|PaymentId}`` itself. Every call carries
``Authorization: Bearer <token>``; every answer is ``{IsSuccess, Message, ValidationErrors,
Data}``. Test root ``https://apitest.myfatoorah.com``; live roots differ by the account's country.

In: a v2 webhook ``{Event: {Code, Name, CountryIsoCode, CreationDate, Reference}, Data: {...}}``
with ``MyFatoorah-Signature``: base64 of HMAC-SHA256, keyed by the webhook secret (UTF-8), over
the event's documented ``Data`` fields in their documented order as ``key=value`` joined by
``,``, a null or missing value as the empty string. For ``PAYMENT_STATUS_CHANGED`` (code 1):
``Invoice.Id``, ``Invoice.Status``, ``Transaction.Status``, ``Transaction.PaymentId``,
``Invoice.ExternalIdentifier``. Nothing else is signed: not the amounts, not the event's date,
not its reference. So what an order is credited is always the order's own, the unsigned amounts
only ever refuse (never raise) a credit, and a report is known by what is signed alone: the same
report resent, whatever its unsigned values, is one key, and one event row. A copy with an amount
changed cannot stand in for the genuine one all the same: it does not match its order, and a
report whose copy did not match is settled again when the next copy comes (``notices``).

Amounts: MyFatoorah answers in its account's currency (KWD has three places); ``money`` turns
them into integer minor units, never through a float.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from .exchange import NOT_THE_PROVIDER, REQUEST_REFUSED, ChannelApi, ChannelError, iso_date
from .money import Money, from_minor, loads, to_minor

__all__ = [
    "FUTURE_SKEW",
    "LIVE_API_BASE",
    "MAX_NOTIFICATION_BYTES",
    "PAYMENT_STATUS_CHANGED",
    "SIGNATURE_HEADER",
    "STALE_AFTER",
    "TEST_API_BASE",
    "Created",
    "Invoice",
    "MyFatoorah",
    "Notification",
    "Refused",
    "State",
    "canonical",
    "payment_request",
    "read_notification",
    "sign",
    "signature_valid",
]

TEST_API_BASE = "https://apitest.myfatoorah.com"
LIVE_API_BASE = "https://api.myfatoorah.com"
SIGNATURE_HEADER = "MyFatoorah-Signature"
PAYMENT_STATUS_CHANGED = 1
REFUND_STATUS_CHANGED = 2
# Each event's signed Data fields, in MyFatoorah's documented order (not alphabetical).
SIGNED_FIELDS: dict[int, tuple[tuple[str, str], ...]] = {
    PAYMENT_STATUS_CHANGED: (
        ("Invoice", "Id"),
        ("Invoice", "Status"),
        ("Transaction", "Status"),
        ("Transaction", "PaymentId"),
        ("Invoice", "ExternalIdentifier"),
    ),
    REFUND_STATUS_CHANGED: (
        ("Refund", "Id"),
        ("Refund", "Status"),
        ("Amount", "ValueInBaseCurrency"),
        ("ReferencedInvoice", "Id"),
    ),
}
# A notification is a few kilobytes; past this it is no notification of MyFatoorah's.
MAX_NOTIFICATION_BYTES = 64 * 1024
# v2 retries a notification at most five times, at most 180 s apart; an hour is generous, and
# a lost one is found by reconciliation. The event's date is not signed: this bounds only what
# a careless sender resends, not a forger, whom the order's own conditional update stops.
STALE_AFTER = timedelta(hours=1)
FUTURE_SKEW = timedelta(minutes=5)
_MAX_FIELD = 255
# An invoice's or a transaction's words for its end; MyFatoorah spells a success "Succss".
_OVER = ("CANCELED", "CANCELLED", "EXPIRED")
_SUCCEEDED = ("SUCCSS", "SUCCESS")

State = Literal["paid", "open", "expired"]


class Refused(Exception):
    """A notification not taken: ``reason`` is one of ``too_large``, ``malformed``,
    ``signature``, ``stale``, ``unsupported``; nothing was acted on. An ``unsupported`` one was
    verified (another event than a payment's status): ``key`` is then its signature's key, for
    it to be acknowledged once and not acted on."""

    def __init__(self, reason: str, key: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key


# --- the signature ---


def _value(data: Any, path: tuple[str, str]) -> str:
    """A signed field as MyFatoorah writes it into the signed string: null or absent is empty;
    a number is its digits. Anything else cannot have been signed."""
    outer = data.get(path[0]) if isinstance(data, dict) else None
    value = outer.get(path[1]) if isinstance(outer, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise Refused("malformed")
    return str(value)


def canonical(data: Any, code: int = PAYMENT_STATUS_CHANGED) -> str:
    """The string MyFatoorah signs for an event of ``code`` with ``data`` (its ``Data``)."""
    return ",".join(f"{a}.{b}={_value(data, (a, b))}" for a, b in SIGNED_FIELDS[code])


def sign(secret: str, data: Any, code: int = PAYMENT_STATUS_CHANGED) -> str:
    digest = hmac.new(secret.encode(), canonical(data, code).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_valid(
    secret: str, data: Any, header: str | None, code: int = PAYMENT_STATUS_CHANGED
) -> bool:
    """Whether ``header`` is MyFatoorah's signature of ``data`` under ``secret``, compared in
    constant time."""
    if not header or len(header) > 100:
        return False
    try:
        expected = sign(secret, data, code).encode("ascii")
    except Refused:
        return False
    return hmac.compare_digest(expected, header.strip().encode("ascii", "replace"))


# --- the notification ---


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified ``PAYMENT_STATUS_CHANGED``. ``key`` identifies the report (``_key``);
    ``reference`` is ``Invoice.ExternalIdentifier``, the order id the gateway sent.
    ``asked`` and ``paid`` (the display and base amounts) are unsigned: a check, never a credit."""

    key: str
    invoice_id: str
    invoice_status: str
    transaction_status: str
    payment_id: str
    reference: str
    # The order id as ``Invoice.UserDefinedField`` or ``Customer.Reference`` carry it, unsigned:
    # for an account whose notifications leave ``ExternalIdentifier`` empty. The signed invoice
    # id must still be the order's, so a changed one credits nothing.
    unsigned_reference: str | None
    created: datetime | None
    asked: Money | None
    paid: Money | None

    @property
    def state(self) -> State:
        invoice, transaction = self.invoice_status.upper(), self.transaction_status.upper()
        if invoice == "PAID" and transaction == "SUCCESS":
            return "paid"
        if invoice in _OVER:
            return "expired"
        # A failed attempt: the invoice stays payable by the next one.
        return "open"


def _created(event: dict[str, Any]) -> datetime | None:
    # MyFatoorah's clock is Kuwait's; a date without an offset is read as such (UTC+3).
    return iso_date(event.get("CreationDate"), naive_offset=timedelta(hours=3))


def _money(block: Any, value: str, currency: str, *, exact: bool) -> Money | None:
    if not isinstance(block, dict) or not isinstance(block.get(currency), str):
        return None
    code = str(block[currency]).upper()[:3]
    minor = to_minor(block.get(value), code, exact=exact)
    return None if minor is None else Money(minor, code)


def _key(signature: str) -> str:
    """What identifies a report: what MyFatoorah signed, and nothing an outsider can change, so
    copies with other unsigned values (a date, a reference, an amount) are one report."""
    return "mf:" + hashlib.sha256(signature.encode()).hexdigest()


def read_notification(body: bytes, header: str | None, secret: str, now: datetime) -> Notification:
    """A notification verified and read, or ``Refused``: its size first, then the signature
    over the signed fields (they are in the JSON, so the bounded body is parsed for them), then
    its date. Events other than a payment's status are refused as ``unsupported`` once verified,
    so MyFatoorah's retries end when the operator unsubscribes them."""
    if len(body) > MAX_NOTIFICATION_BYTES:
        raise Refused("too_large")
    try:
        parsed = loads(body)
    except ValueError:  # a body nested past the parser's depth is no event, either
        raise Refused("malformed") from None
    event = parsed.get("Event") if isinstance(parsed, dict) else None
    data = parsed.get("Data") if isinstance(parsed, dict) else None
    code = event.get("Code") if isinstance(event, dict) else None
    if not isinstance(event, dict) or not isinstance(data, dict) or code not in SIGNED_FIELDS:
        raise Refused("malformed")
    assert isinstance(code, int)
    if not signature_valid(secret, data, header, code):
        raise Refused("signature")
    if code != PAYMENT_STATUS_CHANGED:
        raise Refused("unsupported", key="mf:" + sign(secret, data, code))
    created = _created(event)
    if created is None or created < now - STALE_AFTER or created > now + FUTURE_SKEW:
        raise Refused("stale")
    fields = [_value(data, path) for path in SIGNED_FIELDS[code]]
    if any(len(field) > _MAX_FIELD for field in fields) or not fields[0]:
        raise Refused("malformed")
    invoice_id, invoice_status, transaction_status, payment_id, reference = fields
    amount = data.get("Amount")
    invoice, customer = data.get("Invoice"), data.get("Customer")
    unsigned = (invoice.get("UserDefinedField") if isinstance(invoice, dict) else None) or (
        customer.get("Reference") if isinstance(customer, dict) else None
    )
    unsigned_reference = unsigned[:_MAX_FIELD] if isinstance(unsigned, str) else None
    asked = _money(amount, "ValueInDisplayCurrency", "DisplayCurrency", exact=True)
    paid = _money(amount, "ValueInBaseCurrency", "BaseCurrency", exact=False)
    signature = sign(secret, data, code)
    return Notification(
        key=_key(signature),
        invoice_id=invoice_id,
        invoice_status=invoice_status,
        transaction_status=transaction_status,
        payment_id=payment_id,
        reference=reference,
        unsigned_reference=unsigned_reference,
        created=created,
        asked=asked,
        paid=paid,
    )


# --- the API ---


def payment_request(
    *,
    order_id: str,
    amount: Money,
    customer_name: str,
    callback_url: str,
    error_url: str,
    expires_at: datetime | None,
) -> dict[str, Any]:
    """``SendPayment``'s body for an order: an invoice link (``LNK``, nothing e-mailed), its
    value in the order's currency, the order id where the webhook and the status carry it."""
    body: dict[str, Any] = {
        "NotificationOption": "LNK",
        "CustomerName": customer_name[:100],
        # A JSON number; the float of a value with at most three places prints it exactly.
        "InvoiceValue": float(from_minor(amount.minor, amount.currency)),
        "DisplayCurrencyIso": amount.currency,
        "CallBackUrl": callback_url,
        "ErrorUrl": error_url,
        "CustomerReference": order_id,
        "UserDefinedField": order_id,
        "ExternalIdentifier": order_id,
        "Language": "en",
    }
    if expires_at is not None:
        body["ExpiryDate"] = expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return body


@dataclass(frozen=True, slots=True)
class Created:
    invoice_id: str
    url: str


@dataclass(frozen=True, slots=True)
class Invoice:
    """What ``GetPaymentStatus`` says of an invoice. ``asked``: ``InvoiceDisplayValue`` (the
    order's amount, as MyFatoorah shows it); ``paid``: ``InvoiceValue`` in the account's own
    currency; ``payment_id``: the successful transaction's, when there is one."""

    invoice_id: str
    state: State
    status: str
    reference: str | None
    payment_id: str | None
    asked: Money | None
    paid: Money | None


def _display(value: Any) -> Money | None:
    """``InvoiceDisplayValue``: ``"5.00 USD"`` (thousands may be grouped: ``"1,200.000 KWD"``)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    amount, _, currency = value.strip().partition(" ")
    code = currency.strip().upper()
    if len(code) != 3 or not code.isalpha():
        return None
    minor = to_minor(amount.replace(",", ""), code)
    return None if minor is None else Money(minor, code)


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)[:_MAX_FIELD]


def _invoice(data: Any, account_currency: str) -> Invoice:
    if not isinstance(data, dict) or _text(data.get("InvoiceId")) is None:
        raise ChannelError(NOT_THE_PROVIDER, transient=False, detail="no invoice in the answer")
    status = _text(data.get("InvoiceStatus")) or "unknown"
    word = status.upper()
    state: State = "paid" if word == "PAID" else "expired" if word in _OVER else "open"
    payment_id = None
    transactions = data.get("InvoiceTransactions")
    for transaction in transactions if isinstance(transactions, list) else []:
        if not isinstance(transaction, dict):
            continue
        if str(transaction.get("TransactionStatus")).upper() in _SUCCEEDED:
            payment_id = _text(transaction.get("PaymentId"))
    value = to_minor(data.get("InvoiceValue"), account_currency, exact=False)
    return Invoice(
        invoice_id=str(_text(data.get("InvoiceId"))),
        state=state,
        status=status[:40],
        reference=_text(data.get("CustomerReference")),
        payment_id=payment_id,
        asked=_display(data.get("InvoiceDisplayValue")),
        paid=None if value is None else Money(value, account_currency.upper()),
    )


@dataclass(frozen=True, slots=True)
class MyFatoorah(ChannelApi):
    """The v2 API of one MyFatoorah account (``key``: its API token), over a given client."""

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        status, answer = await self.exchange(
            "POST", path, headers={"Authorization": f"Bearer {self.key}"}, body=body
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("IsSuccess"), bool):
            raise ChannelError(NOT_THE_PROVIDER, transient=False, status=status)
        if not answer["IsSuccess"] or status >= 300:
            message = answer.get("Message")
            raise ChannelError(
                REQUEST_REFUSED,
                transient=False,
                status=status,
                detail=message if isinstance(message, str) else "",
            )
        return answer.get("Data")

    async def send_payment(self, body: dict[str, Any]) -> Created:
        data = await self._post("/v2/SendPayment", body)
        invoice_id = _text(data.get("InvoiceId")) if isinstance(data, dict) else None
        url = data.get("InvoiceURL") if isinstance(data, dict) else None
        if invoice_id is None or not isinstance(url, str) or not url.startswith("http"):
            raise ChannelError(NOT_THE_PROVIDER, transient=False, detail="no invoice link")
        return Created(invoice_id, url)

    async def payment_status(
        self,
        key: str,
        account_currency: str,
        key_type: Literal["InvoiceId", "PaymentId"] = "InvoiceId",
    ) -> Invoice:
        data = await self._post("/v2/GetPaymentStatus", {"Key": key, "KeyType": key_type})
        return _invoice(data, account_currency)
