"""Nothing after the debit fails on the request's own input: every field of a seller's MPP
challenge and of an x402 offer, walked through its extremes (zero, negative, huge and
non-numeric amounts, overlong and odd strings, years 0001, 2200 and 9999, wrong types, missing
fields, JSON nested past the bound), is judged before the money moves: each is refused with the
envelope, a 4xx and its own code, and nothing is written (no payment, the wallet, its ledger,
the events and the key's spend as they were). An expiry is bounded: in the past refused, more
than an hour ahead refused, absent the gateway's own challenges' time. A challenge in this
gateway's own realm whose id it did not sign is refused. Every text a payment's row keeps fits
its column. On each store."""

import base64
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.protocols import registry
from gateway.protocols.base import LONGEST_CHALLENGE_SECONDS
from gateway.protocols.x402 import offers
from gateway.sellers import schemas
from gateway.sellers.service import CURRENCY
from gateway.store.engine import Database
from gateway.store.models import SellerPayment, table_of
from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, running_app
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.seller_payments import SELLER, written

MALFORMED, INVALID, EXPIRED, UNSUPPORTED, NOT_PAYABLE = 4500, 4501, 4502, 4504, 4642
BODY, NUL = 3001, 3103  # the body's own checks: its shape, a NUL in a text
SELLER_REALM = "seller.example"
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
NETWORK, ASSET, NAME, VERSION = offers.STAGING


def _in(seconds: int) -> str:
    """A time ``seconds`` from when the test runs (the cases are built at collection)."""
    return f"@{seconds}@"


def _timed(said: str) -> str:
    """``said`` with each time of ``_in`` written as of now."""

    def at(found: re.Match[str]) -> str:
        when = datetime.now(UTC) + timedelta(seconds=int(found.group(1)))
        return when.isoformat().replace("+00:00", "Z")

    return re.sub(r"@(-?\d+)@", at, said)


def _encoded(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _deep(depth: int = 40) -> Any:
    nested: Any = 1
    for _ in range(depth):
        nested = [nested]
    return nested


_GONE = object()  # a field left out


def _mpp(request: Any = None, **changed: Any) -> str:
    """Another seller's MPP challenge with ``changed`` parameters (``_GONE``: left out) and
    ``request`` (its JSON, or the text of its parameter)."""
    details = {"networkId": "profile_seller", "paymentMethodTypes": ["card"]}
    asked = {"amount": "700", "currency": "usd", "methodDetails": details}
    if isinstance(request, dict):
        asked = {k: v for k, v in {**asked, **request}.items() if v is not _GONE}
    params: dict[str, Any] = {
        "id": "ch_extremes",
        "realm": SELLER_REALM,
        "method": "stripe",
        "intent": "charge",
        "request": request if isinstance(request, str) or request is _GONE else _encoded(asked),
        "expires": _in(300),
        **changed,
    }
    shown = ", ".join(f'{k}="{v}"' for k, v in params.items() if v is not _GONE)
    return f"Payment {shown}"


def _x402(need: dict[str, Any] | None = None, *, digits: int = 0, **top: Any) -> str:
    """A seller's x402 offer on staging's network with ``need``'s fields changed in its one
    requirement (``_GONE``: left out), and ``top``'s in the offer; ``digits``: its time to pay
    that many nines."""
    required = {
        "scheme": "exact",
        "network": NETWORK,
        "asset": ASSET,
        "amount": "7000000",
        "payTo": PAY_TO,
        "maxTimeoutSeconds": 300,
        "extra": {"name": NAME, "version": VERSION},
        **(need or {}),
    }
    offer = {
        "x402Version": 2,
        "resource": {"url": "https://seller.example/a"},
        "accepts": [{k: v for k, v in required.items() if v is not _GONE}],
        **top,
    }
    offer = {k: v for k, v in offer.items() if v is not _GONE}
    text = json.dumps(offer)
    if digits:  # a number past what a JSON number is read as
        text = text.replace('"maxTimeoutSeconds": 300', f'"maxTimeoutSeconds": {"9" * digits}')
    return base64.b64encode(text.encode()).decode()


MPP_CASES: dict[str, tuple[str, int]] = {
    "amount-zero": (_mpp({"amount": "0"}), MALFORMED),
    "amount-negative": (_mpp({"amount": "-700"}), MALFORMED),
    "amount-decimal": (_mpp({"amount": "7.00"}), MALFORMED),
    "amount-exponent": (_mpp({"amount": "7e2"}), MALFORMED),
    "amount-other-digits": (_mpp({"amount": "\u0667\u0660\u0660"}), MALFORMED),
    "amount-number": (_mpp({"amount": 700}), MALFORMED),
    "amount-null": (_mpp({"amount": None}), MALFORMED),
    "amount-missing": (_mpp({"amount": _GONE}), MALFORMED),
    "amount-huge": (_mpp({"amount": "9" * 4000}), MALFORMED),
    "amount-past-stripe": (_mpp({"amount": "100000000"}), MALFORMED),
    "amount-past-a-payment": (_mpp({"amount": "99999999"}), NOT_PAYABLE),
    "currency-other": (_mpp({"currency": "eur"}), UNSUPPORTED),
    "currency-number": (_mpp({"currency": 840}), UNSUPPORTED),
    "currency-missing": (_mpp({"currency": _GONE}), UNSUPPORTED),
    "details-missing": (_mpp({"methodDetails": _GONE}), MALFORMED),
    "details-text": (_mpp({"methodDetails": "profile"}), MALFORMED),
    "network-long": (_mpp({"methodDetails": {"networkId": "p" * 256}}), MALFORMED),
    "network-number": (_mpp({"methodDetails": {"networkId": 5}}), MALFORMED),
    "request-deep": (_mpp({"x": _deep()}), MALFORMED),
    "request-list": (_mpp(_encoded([1])), MALFORMED),
    "request-not-base64": (_mpp("!!"), MALFORMED),
    "request-missing": (_mpp(request=_GONE), MALFORMED),
    "id-missing": (_mpp(id=_GONE), MALFORMED),
    "method-other": (_mpp(method="tempo"), UNSUPPORTED),
    "intent-other": (_mpp(intent="session"), UNSUPPORTED),
    "expires-year-1": (_mpp(expires="0001-01-01T00:00:00Z"), EXPIRED),
    "expires-past": (_mpp(expires=_in(-1)), EXPIRED),
    "expires-year-9999": (_mpp(expires="9999-12-31T23:59:59Z"), MALFORMED),
    "expires-year-2200": (_mpp(expires="2200-01-01T00:00:00Z"), MALFORMED),
    "expires-past-the-bound": (_mpp(expires=_in(LONGEST_CHALLENGE_SECONDS + 60)), MALFORMED),
    "expires-not-a-time": (_mpp(expires="tomorrow"), MALFORMED),
    "expires-no-offset": (_mpp(expires="2026-12-01T00:00:00"), MALFORMED),
    "realm-long": (_mpp(realm="r" * 300), MALFORMED),
    "realm-nul": (_mpp(realm="evil\u0000"), NUL),
    "realm-control": (_mpp(realm="evil\u0007"), BODY),
    "header-long": (_mpp(header="X-" + "h" * 200), MALFORMED),
    "realm-ours-unsigned": (_mpp(realm="aitopup"), INVALID),
    "too-long": (_mpp({"description": "d" * 9000}), BODY),
}

X402_CASES: dict[str, tuple[str, int]] = {
    "amount-zero": (_x402({"amount": "0"}), MALFORMED),
    "amount-negative": (_x402({"amount": "-7000000"}), MALFORMED),
    "amount-decimal": (_x402({"amount": "7000000.5"}), MALFORMED),
    "amount-other-digits": (_x402({"amount": "\u0667" * 7}), MALFORMED),
    "amount-number": (_x402({"amount": 7000000}), MALFORMED),
    "amount-missing": (_x402({"amount": _GONE}), MALFORMED),
    "amount-huge": (_x402({"amount": "9" * 4000}), MALFORMED),
    "amount-past-one-payment": (_x402({"amount": "1" + "0" * 15}), MALFORMED),
    "amount-past-a-payment": (_x402({"amount": "9999990000"}), NOT_PAYABLE),
    "amount-not-whole-cents": (_x402({"amount": "7000001"}), UNSUPPORTED),
    "pay-to-short": (_x402({"payTo": "0x1234"}), MALFORMED),
    "pay-to-long": (_x402({"payTo": "0x" + "a" * 4000}), MALFORMED),
    "pay-to-number": (_x402({"payTo": 5}), MALFORMED),
    "pay-to-missing": (_x402({"payTo": _GONE}), MALFORMED),
    "network-other": (_x402({"network": "eip155:1"}), UNSUPPORTED),
    "asset-other": (_x402({"asset": "0x" + "b" * 40}), UNSUPPORTED),
    "scheme-other": (_x402({"scheme": "upto"}), UNSUPPORTED),
    "transfer-other": (_x402({"extra": {"assetTransferMethod": "permit2"}}), UNSUPPORTED),
    "timeout-zero": (_x402({"maxTimeoutSeconds": 0}), EXPIRED),
    "timeout-negative": (_x402({"maxTimeoutSeconds": -5}), EXPIRED),
    "timeout-text": (_x402({"maxTimeoutSeconds": "soon"}), MALFORMED),
    "timeout-past-a-number": (_x402(digits=4400), MALFORMED),
    "extra-deep": (_x402({"extra": {"x": _deep()}}), MALFORMED),
    "version-1": (_x402(x402Version=1), UNSUPPORTED),
    "version-text": (_x402(x402Version="2"), UNSUPPORTED),
    "accepts-none": (_x402(accepts=[]), UNSUPPORTED),
    "accepts-text": (_x402(accepts="exact"), MALFORMED),
    "resource-number": (_x402(resource=5), MALFORMED),
    "not-json": (base64.b64encode(b'{"x402Version": 2,').decode(), MALFORMED),
}


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The REST door of a gateway whose staging wallets pay x402 (a chain's RPC named, never
    asked: nothing is made here)."""
    paying = settings.model_copy(update={"x402_staging_rpc_url": "http://127.0.0.1:9/rpc"})
    async with running_app(paying) as app, asgi_client(app) as found:
        yield found


async def _refused(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant, env: str, said: str
) -> int:
    """The code a payment of ``said`` is refused with, a 4xx envelope, nothing written."""
    merchant = await make_merchant(env, balance_cents=10_000)
    before = await written(db, merchant)
    body = {"url": SELLER, "challenge": _timed(said)}
    headers = {**merchant.headers, "Idempotency-Key": "extreme"}
    reply = await client.post("/payments", json=body, headers=headers)
    found = reply.json()
    assert 400 <= reply.status_code < 500 and found["success"] is False, reply.text
    assert await written(db, merchant) == before
    return int(found["code"])


@pytest.mark.parametrize(("said", "code"), MPP_CASES.values(), ids=MPP_CASES.keys())
async def test_each_field_of_an_mpp_challenge_at_its_extremes_is_refused_before_the_debit(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant, said: str, code: int
) -> None:
    assert await _refused(client, db, make_merchant, "live", said) == code


@pytest.mark.parametrize(("said", "code"), X402_CASES.values(), ids=X402_CASES.keys())
async def test_each_field_of_an_x402_offer_at_its_extremes_is_refused_before_the_debit(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant, said: str, code: int
) -> None:
    assert await _refused(client, db, make_merchant, "staging", said) == code


def test_an_expiry_is_bounded_and_one_without_is_the_gateways_own(settings: Settings) -> None:
    """An offer asking a day is given an hour; a challenge that says nothing, the time this
    gateway's own last."""
    now = datetime.now(UTC)
    paying = settings.model_copy(update={"x402_staging_rpc_url": "http://127.0.0.1:9/rpc"})
    for asked in (86_400, "9" * 400):
        day = registry.demand_of(paying, _x402({"maxTimeoutSeconds": asked}), now, env="staging")
        assert day.expires_at <= now + timedelta(seconds=LONGEST_CHALLENGE_SECONDS)
    silent = registry.demand_of(settings, _timed(_mpp(expires=_GONE)), now, env="live")
    assert silent.expires_at == now + timedelta(seconds=settings.mpp_challenge_ttl_seconds)


async def test_a_resource_whose_origin_overflows_its_column_is_refused(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=10_000)
    before = await written(db, merchant)
    host = ".".join(["a" * 60] * 5) + ".example"  # a 313-character host
    body = {"url": f"https://{host}/r", "challenge": _x402()}
    headers = {**merchant.headers, "Idempotency-Key": "long-host"}
    reply = await client.post("/payments", json=body, headers=headers)
    assert (reply.status_code, reply.json()["code"]) == (422, BODY), reply.text
    assert await written(db, merchant) == before


# What bounds each text a payment's row keeps, where it comes from outside: the request's
# fields (``schemas``), the demand's (``service._payable`` holds them to their columns), and
# what the gateway writes itself.
_FROM_OUTSIDE = {
    "url": schemas.MAX_URL,
    "payee_origin": schemas.MAX_ORIGIN,
    "description": 500,
    "idempotency_key": 255,
    "currency": len(CURRENCY),
}
_HELD_TO_THEIR_COLUMNS = {"protocol", "payee", "header", "destination"}
_THE_GATEWAYS = {
    "id",
    "env",
    "merchant_id",
    "api_key_id",
    "wallet_id",
    "status",
    "failure_reason",
    "decided_by",
    "funded_by",
}


def test_every_text_a_payment_keeps_is_bounded_within_its_column() -> None:
    columns = table_of(SellerPayment).c
    strings = {c.name: c.type.length for c in columns if isinstance(c.type, sa.String)}
    bounded = {n for n, length in strings.items() if length is not None}
    assert bounded == set(_FROM_OUTSIDE) | _HELD_TO_THEIR_COLUMNS | _THE_GATEWAYS
    for name, most in _FROM_OUTSIDE.items():
        assert most <= (strings[name] or 0), name
    description = schemas.PaymentCreate.model_fields["description"].metadata
    assert any(getattr(m, "max_length", None) == _FROM_OUTSIDE["description"] for m in description)


@pytest.mark.parametrize(
    "said",
    [
        _mpp(opaque=_encoded({"a": [1, {"b": 2}], "c": 1.5e308})),
        _mpp(digest="sha-256=:" + "x" * 2000 + ":"),
        _mpp(description="\U0001f600\u00e9" * 200),
        _mpp({"methodDetails": {"networkId": "\u00e9" * 255, "x": [None, True]}}),
        _mpp(header="X-Pay"),
    ],
    ids=["opaque", "digest", "description", "details", "header"],
)
def test_what_an_mpp_challenge_may_say_and_still_be_read_makes_its_credential(
    settings: Settings, said: str
) -> None:
    """What is read is what is paid: the credential echoes the challenge whatever odd values
    it carries, so making it after the debit cannot fail on them."""
    from gateway.protocols.mpp.payer import _credential

    found = registry.demand_of(settings, _timed(said), datetime.now(UTC), env="live")
    assert _credential(found.kept.challenge, "spt_test").startswith("Payment ")


def test_a_payment_kept_from_before_the_bounds_is_still_scheduled() -> None:
    """A row written before expiries were bounded (year 9999) schedules its looks and its
    release without overflowing: the worker's retry no longer fails on it."""
    from gateway.sellers.states import release_at, schedule

    now = datetime.now(UTC)
    last = datetime.max.replace(tzinfo=UTC)
    assert release_at(last) == last
    assert schedule(0, now, last) == now + timedelta(seconds=15)
