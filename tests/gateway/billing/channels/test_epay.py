"""Epay behind the provider interface (``billing.channels.providers.epay``): its credentials, the
payer's link with the charge in the account's currency, notifications verified and parsed, and
orders looked up, against the stand-in deployment."""

import asyncio
import io
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from gateway.billing.channels import registry as providers
from gateway.billing.channels.providers.epay import EpayCredentials, EpayProvider
from gateway.billing.channels.registry import (
    ANSWER_CAP,
    Charge,
    Context,
    Inbound,
    NoticeMalformed,
    NoticeRefused,
    OrderRef,
    PaymentRequest,
    ProviderError,
)
from gateway.ops.logs import configure_logging
from gateway.values.clock import new_id
from gateway.values.settings import Settings
from tests.fixtures import channels
from tests.fixtures.core import local_client, make_settings
from tests.fixtures.epay import EPAY_KEY, EPAY_PID, OTHER_KEY, OTHER_PID, EpayStandIn, epay_sign

SETTINGS = make_settings("sqlite+aiosqlite:///:memory:", "redis://127.0.0.1:1")
NOTIFY_URL = "http://gateway.test/api/public/v1/payment/webhook/epay"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _credentials(root: str, **changes: Any) -> EpayCredentials:
    values = {"pid": EPAY_PID, "key": EPAY_KEY, "api_root": root, "rate": "7.2", **changes}
    return EpayCredentials.model_validate(values)


def _context(credentials: EpayCredentials, http: httpx.AsyncClient) -> Context[EpayCredentials]:
    return channels.context(credentials, http, now=NOW)


def _request(order_id: str, amount: int = 500) -> PaymentRequest:
    return channels.payment_request(order_id, "epay", amount)


def _ref(order_id: str, amount: int = 3600) -> OrderRef:
    return OrderRef(order_id, "mer_1", "live", "checkout", None, None, amount, "CNY", NOW)


def _get(fields: dict[str, str]) -> Inbound:
    return Inbound("GET", b"", {}, fields)


def test_epay_is_registered_with_what_it_can_do() -> None:
    provider = providers.get("epay")
    assert isinstance(provider, EpayProvider)
    assert provider.can_look_up and not provider.can_refund and not provider.subscriptions
    assert provider.notify_methods == {"GET", "POST"}
    assert provider.credentials is EpayCredentials


def test_credentials_are_checked_and_the_key_is_secret() -> None:
    credentials = _credentials("https://pay.example.com", currency="cny", method="alipay")
    assert credentials.currency == "CNY" and credentials.method == "alipay"
    assert EPAY_KEY not in repr(credentials) and EPAY_KEY not in credentials.model_dump_json()
    assert credentials.account.key == EPAY_KEY
    bad: list[dict[str, Any]] = [
        {"pid": ""},
        {"key": "with space"},
        {"api_root": "pay.example.com"},
        {"rate": "0"},
        {"rate": "-7"},
        {"rate": "7.1234567"},
        {"currency": "YUAN"},
        {"method": "ali pay"},
        {"extra": "field"},
    ]
    for changes in bad:
        with pytest.raises(ValidationError):
            _credentials("https://pay.example.com", **changes)
    with pytest.raises(ValidationError):
        EpayCredentials.model_validate({"pid": EPAY_PID, "key": EPAY_KEY, "api_root": "https://a"})


async def test_open_answers_the_signed_link_and_what_is_charged_in_the_accounts_currency(
    epay_stand_in: EpayStandIn,
) -> None:
    order_id = new_id("ord")
    async with local_client() as http:
        ctx = _context(_credentials(epay_stand_in.url), http)
        opened = await EpayProvider().open(ctx, _request(order_id))
        assert opened.session_id is None and opened.expires_at is None
        assert opened.charge == Charge(3600, "CNY", "7.2")
        fields = dict(parse_qsl(urlsplit(opened.url).query))
        assert opened.url.startswith(f"{epay_stand_in.url}/submit.php?")
        assert (fields["money"], fields["out_trade_no"], fields["notify_url"]) == (
            "36.00",
            order_id,
            NOTIFY_URL,
        )
        assert "type" not in fields  # no method set: the cashier page
        page = await http.get(opened.url)
    assert page.status_code == 200 and "36.00" in page.text
    assert epay_stand_in.order_of(order_id).money == "36.00"


async def test_an_account_in_the_gateways_own_currency_charges_the_order_itself() -> None:
    async with local_client() as http:
        credentials = _credentials("https://pay.example.com", currency="USD", rate="1")
        opened = await EpayProvider().open(_context(credentials, http), _request("ord_1", 1234))
    assert opened.charge is None
    assert dict(parse_qsl(urlsplit(opened.url).query))["money"] == "12.34"


async def test_an_order_epay_cannot_take_is_a_provider_error() -> None:
    async with local_client() as http:
        ctx = _context(_credentials("https://pay.example.com"), http)
        with pytest.raises(ProviderError):
            await EpayProvider().open(ctx, _request("ord with space"))


def _signed(**changes: str) -> dict[str, str]:
    fields = {
        "pid": EPAY_PID,
        "trade_no": "2026112512000011111",
        "out_trade_no": "ord_1",
        "type": "alipay",
        "name": "Starter pack",
        "money": "36.00",
        "trade_status": "TRADE_SUCCESS",
        **changes,
    }
    return {**fields, "sign": epay_sign(fields, EPAY_KEY), "sign_type": "MD5"}


async def test_a_notification_by_get_or_post_is_verified_and_parsed() -> None:
    provider = EpayProvider()
    async with local_client() as http:
        ctx = _context(_credentials("https://pay.example.com"), http)
        posted = Inbound("POST", urlencode(_signed()).encode(), {}, {})
        for inbound in (_get(_signed()), posted):
            provider.verify(ctx, inbound)
            notice = provider.parse(ctx, inbound)
            assert (notice.state, notice.order_id, notice.amount_minor, notice.currency) == (
                "paid",
                "ord_1",
                3600,
                "CNY",
            )
            assert notice.event_id == "2026112512000011111:TRADE_SUCCESS"
            assert notice.payment_id == "2026112512000011111" and notice.session_id is None
            assert provider.ack(notice).body == b"success"
        other_state = provider.parse(ctx, _get(_signed(trade_status="TRADE_CLOSED")))
        assert other_state.state == "ignored" and other_state.event_id.endswith("TRADE_CLOSED")


async def test_forged_foreign_and_unreadable_notifications_are_refused() -> None:
    provider = EpayProvider()
    theirs = {k: v for k, v in _signed(pid=OTHER_PID).items() if k not in ("sign", "sign_type")}
    theirs["sign"] = epay_sign(theirs, OTHER_KEY)
    async with local_client() as http:
        ctx = _context(_credentials("https://pay.example.com"), http)
        refusals = {
            "signature": [
                {**_signed(), "sign": "f" * 32},
                {**_signed(), "money": "3600.00"},
                theirs,
                {k: v for k, v in _signed().items() if k != "sign"},
            ],
            "other_merchant": [_signed(pid=OTHER_PID)],
        }
        for reason, cases in refusals.items():
            for fields in cases:
                with pytest.raises(NoticeRefused) as refused:
                    provider.verify(ctx, _get(fields))
                assert refused.value.reason == reason
        too_many = urlencode([*_signed().items(), *[(f"f{n}", "x") for n in range(40)]])
        with pytest.raises(NoticeRefused, match="too_large"):
            provider.verify(ctx, Inbound("POST", too_many.encode(), {}, {}))
        with pytest.raises(NoticeRefused, match="malformed"):
            provider.verify(ctx, Inbound("POST", b"\xff\xfe", {}, {}))
        unreadable = _get(_signed(money="36.001"))
        provider.verify(ctx, unreadable)  # the signature holds...
        with pytest.raises(NoticeMalformed):  # ...but it is no notification
            provider.parse(ctx, unreadable)


async def test_look_up_asks_the_deployment(epay_stand_in: EpayStandIn) -> None:
    provider = EpayProvider()
    order_id = new_id("ord")
    async with local_client() as http:
        ctx = _context(_credentials(epay_stand_in.url), http)
        never_opened = await provider.look_up(ctx, _ref(order_id))
        assert (never_opened.state, never_opened.provider_status) == ("open", "not_found")
        opened = await provider.open(ctx, _request(order_id))
        await http.get(opened.url)
        unpaid = await provider.look_up(ctx, _ref(order_id))
        assert (unpaid.state, unpaid.provider_status, unpaid.amount_minor) == (
            "open",
            "unpaid",
            3600,
        )
        await epay_stand_in.pay(order_id, deliver=False)
        paid = await provider.look_up(ctx, _ref(order_id))
        trade_no = epay_stand_in.order_of(order_id).trade_no
        assert (paid.state, paid.payment_id, paid.amount_minor, paid.currency) == (
            "paid",
            trade_no,
            3600,
            "CNY",
        )
        wrong_key = _credentials(epay_stand_in.url, key=OTHER_KEY)
        refused = await provider.look_up(_context(wrong_key, http), _ref(order_id))
        assert refused.state == "open"  # Epay's "KEY校验失败": nothing believed


async def _look_up_through(handler: Any, settings: Settings = SETTINGS) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        ctx = Context(settings, "live", _credentials("https://pay.example.com"), http, NOW)
        return await EpayProvider().look_up(ctx, _ref("ord_1"))


async def test_an_answer_as_php_sends_it_is_read() -> None:
    def php(request: httpx.Request) -> httpx.Response:
        body = (
            '\ufeff{"code":1,"msg":"ok","trade_no":"2026","out_trade_no":"ord_1","pid":1001,'
            '"money":36,"status":1}'
        )
        return httpx.Response(200, content=body.encode(), headers={"Content-Type": "text/html"})

    looked = await _look_up_through(php)
    assert (looked.state, looked.payment_id, looked.amount_minor) == ("paid", "2026", 3600)


async def test_a_deployment_that_gives_no_answer_is_a_provider_error_without_the_key() -> None:
    def refusing(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    def failing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="busy")

    def redirecting(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "https://elsewhere.example/"})

    def endless(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{" + b" " * ANSWER_CAP + b"}")

    def elsewhere(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 1, "out_trade_no": "ord_2", "status": 1})

    for handler in (refusing, failing, redirecting, endless, elsewhere):
        with pytest.raises(ProviderError) as failed:
            await _look_up_through(handler)
        assert not failed.value.timeout, handler.__name__
        assert EPAY_KEY not in f"{failed.value} {failed.value.__cause__}", handler.__name__


async def test_a_deployment_that_drips_its_answer_is_cut_at_the_deadline() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json={})

    brief = SETTINGS.model_copy(update={"payment_timeout_seconds": 0.2})
    with pytest.raises(ProviderError) as failed:
        await _look_up_through(slow, brief)
    assert failed.value.timeout


async def test_the_key_in_the_order_query_never_reaches_the_log(
    epay_stand_in: EpayStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    with caplog.at_level(logging.DEBUG):
        async with local_client() as http:
            ctx = _context(_credentials(epay_stand_in.url), http)
            await EpayProvider().look_up(ctx, _ref(new_id("ord")))
    assert epay_stand_in.queries and EPAY_KEY not in stream.getvalue() + caplog.text
