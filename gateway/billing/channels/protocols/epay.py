"""Epay (易支付), the protocol New API funds wallets through, as its deployments document it.

Out: the payer opens ``<root>/submit.php`` with ``pid``, ``type``, ``out_trade_no``,
``notify_url``, ``return_url``, ``name``, ``money``, ``sign`` and ``sign_type=MD5`` (a GET link
or a POSTed form; both are documented). ``type`` names the method (``alipay``, ``wxpay``, ...);
left out, the deployment's own cashier page lets the payer choose. ``money`` is the amount in the
Epay account's currency with two places (``"10.00"``).

The signature: every parameter but ``sign`` and ``sign_type`` whose value is not empty, sorted by
name, joined as ``k=v&k=v`` (the values as they are, not URL-encoded), the merchant's key appended
with no separator, MD5, lower-case hex. The same rule signs what Epay sends back.

In: once paid, Epay calls ``notify_url`` (GET, the fields in the query; some deployments POST a
form) with ``pid``, ``trade_no`` (Epay's order number), ``out_trade_no`` (ours), ``type``,
``name``, ``money``, ``trade_status=TRADE_SUCCESS``, ``sign`` and ``sign_type``, and retries until
the reply body is the plain text ``success``. The payer is sent to ``return_url`` with the same
fields: a redirect, which proves nothing on its own. Nothing in a notification says when it was
sent, so a notification is only ever a claim about its own order: the order's state and amount
decide what it may do.

Asking: ``<root>/api.php?act=order&pid=&key=&out_trade_no=`` answers one order as JSON,
``{code, msg, trade_no, out_trade_no, type, pid, addtime, endtime, name, money, status}``:
``code`` 1 when found, ``status`` 1 once paid. This is the query the classic deployments
document (the key itself is the credential; some later forks sign the query instead, which this
module does not speak). The URL carries the key, so it is never logged or put in an error. This
module builds the URL and reads the answer; the exchange is the provider's
(``billing.channels.providers.epay``), bounded as every provider's is.

Refunds: the classic protocol has none (a few forks add one for some methods only), so an Epay
payment is refunded in the merchant's Epay panel.
"""

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from .money import major_text, scaled

__all__ = [
    "ACK",
    "MAX_NOTIFICATION_BYTES",
    "METHOD",
    "NACK",
    "SIGN_TYPE",
    "TRADE_SUCCESS",
    "Account",
    "NotAnAnswer",
    "Notification",
    "OrderState",
    "Refused",
    "account_problem",
    "money_minor",
    "money_text",
    "payment_fields",
    "payment_link",
    "query_url",
    "read_notification",
    "read_order_answer",
    "sign",
    "signature_valid",
    "signing_string",
]

SIGN_TYPE = "MD5"
TRADE_SUCCESS = "TRADE_SUCCESS"
# What Epay waits for before it stops notifying, and what any other reply may be: anything but
# ``success`` is retried.
ACK = "success"
NACK = "fail"
# A notification is a few hundred bytes: its query string or form body is refused past this.
MAX_NOTIFICATION_BYTES = 8 * 1024
MAX_FIELDS = 32
_MAX_NAME = 32
_MAX_VALUE = 1024
_MAX_DETAIL = 200
# What a payer sees as the product's name at Epay; deployments store it in a short column.
_MAX_PRODUCT_NAME = 64
_MAX_MINOR = 10**12  # ten billion of the major unit: no amount of ours

_ID = re.compile(r"[0-9A-Za-z_.\-]{1,64}")
_PID = re.compile(r"[0-9A-Za-z_\-]{1,32}")
_KEY = re.compile(r"[\x21-\x7e]{1,128}")
# A payment type (``type``): what both the link and the operator's setting accept.
METHOD = re.compile(r"[0-9A-Za-z_]{1,32}")
_SIGN = re.compile(r"[0-9a-fA-F]{32}")
_MONEY = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?")


@dataclass(frozen=True, slots=True)
class Account:
    """One Epay merchant account: its ``pid``, its key (secret) and the deployment's root URL
    (``https://pay.example.com``, under which ``submit.php`` and ``api.php`` sit)."""

    pid: str
    key: str = field(repr=False)
    api_root: str

    @property
    def root(self) -> str:
        return self.api_root.rstrip("/")


def account_problem(pid: str, key: str, api_root: str) -> str | None:
    """What is wrong with an account's settings, in words an operator can act on (never the
    key's value); None when they can be used."""
    if not _PID.fullmatch(pid):
        return "the merchant id (pid) is 1 to 32 letters, digits, '-' or '_'"
    if not _KEY.fullmatch(key):
        return "the key is 1 to 128 printable characters without spaces"
    try:
        parts = urlsplit(api_root)
        _ = parts.port
    except ValueError:  # a bracket never closed, a port past 65535
        return "the API root is an absolute http(s) URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the API root is an absolute http(s) URL"
    if parts.query or parts.fragment or parts.username or parts.password:
        return "the API root has no query, fragment or credentials"
    return None


# --- the signature ---


def signing_string(params: Mapping[str, str]) -> str:
    """What Epay's MD5 is taken over, before the key: the signed fields sorted, ``k=v&...``."""
    return "&".join(
        f"{name}={params[name]}"
        for name in sorted(params)
        if name not in ("sign", "sign_type") and params[name] != ""
    )


def sign(params: Mapping[str, str], key: str) -> str:
    # MD5 is the protocol's, not a choice: Epay signs and checks nothing else.
    digest = hashlib.md5((signing_string(params) + key).encode())  # noqa: S324
    return digest.hexdigest()


def signature_valid(params: Mapping[str, str], key: str) -> bool:
    """Whether ``params["sign"]`` is Epay's signature of ``params`` under ``key``, compared in
    constant time. Hex is compared lower-case: some deployments write it upper."""
    given = params.get("sign", "")
    if not _SIGN.fullmatch(given):
        return False
    return hmac.compare_digest(sign(params, key).encode(), given.lower().encode())


# --- money ---


def money_text(minor: int) -> str:
    """``minor`` units as Epay's ``money``: the major amount with two places, ``"12.30"``."""
    if isinstance(minor, bool) or not 0 < minor < _MAX_MINOR:
        raise ValueError("an Epay amount is at least 0.01")
    return major_text(minor)


def money_minor(text: str) -> int | None:
    """Epay's ``money`` (``"12.3"``, ``"12.30"``, ``"12"``) in minor units; None if it is not an
    amount. Never through a float."""
    if _MONEY.fullmatch(text) is None:  # Epay's syntax, stricter than a decimal's
        return None
    return scaled(Decimal(text), 2)


# --- out: the payer's link ---


def payment_fields(
    account: Account,
    *,
    out_trade_no: str,
    money: int,
    name: str,
    notify_url: str,
    return_url: str,
    method: str | None = None,
) -> dict[str, str]:
    """``submit.php``'s fields for one order, signed: ``money`` in minor units of the account's
    currency; ``method`` the ``type`` (None: the deployment's cashier page)."""
    if not _ID.fullmatch(out_trade_no):
        raise ValueError("out_trade_no is 1 to 64 letters, digits, '.', '-' or '_'")
    if urlsplit(notify_url).query:
        # Epay appends its fields to the URL; a query of its own would arrive among them unsigned.
        raise ValueError("an Epay notify_url has no query")
    if method is not None and not METHOD.fullmatch(method):
        raise ValueError("an Epay payment type is 1 to 32 letters, digits or '_'")
    product = " ".join(name.split())[:_MAX_PRODUCT_NAME]
    if not product:
        raise ValueError("an Epay order has a name")
    fields = {
        "pid": account.pid,
        "out_trade_no": out_trade_no,
        "notify_url": notify_url,
        "return_url": return_url,
        "name": product,
        "money": money_text(money),
    }
    if method is not None:
        fields["type"] = method
    fields["sign"] = sign(fields, account.key)
    fields["sign_type"] = SIGN_TYPE
    return fields


def payment_link(account: Account, **order: Any) -> str:
    """The link a payer opens: ``submit.php`` with ``payment_fields`` in its query."""
    return f"{account.root}/submit.php?{urlencode(payment_fields(account, **order))}"


# --- in: the notification ---


class Refused(Exception):
    """A notification not taken: ``reason`` is one of ``too_large``, ``malformed``,
    ``signature``, ``other_merchant``; nothing was acted on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified notification. ``money`` is in minor units of the account's currency;
    ``paid``: Epay says the trade succeeded (the only status the protocol defines)."""

    pid: str
    trade_no: str
    out_trade_no: str
    method: str
    name: str
    money: int
    trade_status: str

    @property
    def paid(self) -> bool:
        return self.trade_status == TRADE_SUCCESS


def _fields(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The pairs as one field each, bounded; a name given twice is refused, since which of its
    values was signed is then anyone's guess."""
    fields: dict[str, str] = {}
    for count, (name, value) in enumerate(pairs, start=1):
        if count > MAX_FIELDS or len(name) > _MAX_NAME or len(value) > _MAX_VALUE:
            raise Refused("too_large")
        if name in fields:
            raise Refused("malformed")
        fields[name] = value
    return fields


def read_notification(pairs: Iterable[tuple[str, str]], account: Account) -> Notification:
    """A notification (its query's or form's pairs) verified and read, or ``Refused``: its
    bounds first, then the signature over every field it carries, then whose it is, then its
    fields. The caller bounds the raw query or body (``MAX_NOTIFICATION_BYTES``)."""
    fields = _fields(pairs)
    if fields.get("sign_type", SIGN_TYPE).upper() != SIGN_TYPE:
        raise Refused("signature")
    if not signature_valid(fields, account.key):
        raise Refused("signature")
    if not hmac.compare_digest(fields.get("pid", "").encode(), account.pid.encode()):
        raise Refused("other_merchant")
    trade_no = fields.get("trade_no", "")
    out_trade_no = fields.get("out_trade_no", "")
    money = money_minor(fields.get("money", ""))
    status = fields.get("trade_status", "")
    if not (_ID.fullmatch(trade_no) and _ID.fullmatch(out_trade_no)) or money is None:
        raise Refused("malformed")
    if not status or len(status) > 40:
        raise Refused("malformed")
    return Notification(
        pid=account.pid,
        trade_no=trade_no,
        out_trade_no=out_trade_no,
        method=fields.get("type", "")[:32],
        name=fields.get("name", "")[:_MAX_PRODUCT_NAME],
        money=money,
        trade_status=status,
    )


# --- asking: one order's state ---


class NotAnAnswer(Exception):
    """What ``api.php`` sent is no answer about the order asked for (not an object, another
    order's, another merchant's). The message never carries the URL: it holds the key."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail[:_MAX_DETAIL])
        self.detail = detail[:_MAX_DETAIL]


@dataclass(frozen=True, slots=True)
class OrderState:
    """What ``api.php?act=order`` says of one order. ``state``: ``paid``, ``open`` (known, not
    paid) or ``unknown`` (``code`` other than 1: not found, which is also what an order whose
    link was never opened is, or the credentials refused; ``detail`` is Epay's message, for the
    log). ``money`` in minor units, None if the answer had none."""

    state: Literal["paid", "open", "unknown"]
    out_trade_no: str
    trade_no: str | None = None
    money: int | None = None
    method: str | None = None
    detail: str = ""


def query_url(account: Account, out_trade_no: str) -> str:
    """``api.php``'s URL for one order. It holds the key: never log it."""
    query = {"act": "order", "pid": account.pid, "key": account.key, "out_trade_no": out_trade_no}
    return f"{account.root}/api.php?{urlencode(query)}"


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    return str(value)[:_MAX_VALUE]


def read_order_answer(parsed: Any, account: Account, out_trade_no: str) -> OrderState:
    """``api.php``'s answer (its JSON, parsed) about ``out_trade_no``, or ``NotAnAnswer``.
    PHP deployments send numbers as strings (``"1"``) or strings as numbers (``money: 1.5``);
    an answer about another order or another merchant is no answer about this one."""
    if not isinstance(parsed, dict):
        raise NotAnAnswer("not a JSON object")
    message = _text(parsed.get("msg")) or ""
    if _text(parsed.get("code")) != "1":
        return OrderState("unknown", out_trade_no, detail=message)
    pid, echoed = _text(parsed.get("pid")), _text(parsed.get("out_trade_no"))
    if (pid is not None and pid != account.pid) or (echoed is not None and echoed != out_trade_no):
        raise NotAnAnswer("another order's answer")
    money_text = _text(parsed.get("money"))
    return OrderState(
        "paid" if _text(parsed.get("status")) == "1" else "open",
        out_trade_no,
        trade_no=_text(parsed.get("trade_no")),
        money=None if money_text is None else money_minor(money_text),
        method=_text(parsed.get("type")),
        detail=message,
    )
