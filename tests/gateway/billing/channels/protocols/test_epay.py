"""Epay's protocol (``billing.channels.protocols.epay``): the MD5 signature checked against a
published example, the payer's link, the notification read and refused, and the order query, spoken
to the stand-in (which signs with its own copy of the documented rule)."""

import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.billing.channels.protocols import epay
from tests.fixtures.core import local_client
from tests.fixtures.epay import EPAY_KEY, EPAY_PID, OTHER_KEY, OTHER_PID, EpayStandIn, epay_sign

ACCOUNT = epay.Account(pid=EPAY_PID, key=EPAY_KEY, api_root="https://pay.example.com/")


def _order(**overrides: Any) -> dict[str, Any]:
    return {
        "out_trade_no": "ord_0123456789",
        "money": 1230,
        "name": "Wallet funding",
        "notify_url": "https://gateway.example/api/public/v1/payment/webhook/epay",
        "return_url": "https://gateway.example/dashboard/wallet",
        "method": "alipay",
        **overrides,
    }


def _notification(**changes: str) -> dict[str, str]:
    fields = {
        "pid": EPAY_PID,
        "trade_no": "2026112517000012345",
        "out_trade_no": "ord_0123456789",
        "type": "alipay",
        "name": "Wallet funding",
        "money": "12.30",
        "trade_status": "TRADE_SUCCESS",
        **changes,
    }
    fields["sign"] = epay_sign(fields, EPAY_KEY)
    fields["sign_type"] = "MD5"
    return fields


# --- the signature ---


def test_the_published_example_signs_as_published() -> None:
    # go-epay's own test (util_test.go, TestMD5String): "device=devicev&money=moneyv" with the
    # key "1234567" is 3854cc9f022e0fb821bd2e002260245d.
    params = {"money": "moneyv", "device": "devicev", "sign": "", "sign_type": "MD5", "x": ""}
    assert epay.signing_string(params) == "device=devicev&money=moneyv"
    assert epay.sign(params, "1234567") == "3854cc9f022e0fb821bd2e002260245d"


def test_the_signed_string_is_every_non_empty_field_but_the_signature_sorted_by_name() -> None:
    params = {
        "type": "typev",
        "pid": "pidv",
        "out_trade_no": "out_trade_nov",
        "notify_url": "https://a.example/n?x=1&y=2",  # signed as it is, never URL-encoded
        "name": "namev",
        "money": "moneyv",
        "device": "devicev",
        "return_url": "",
        "sign": "whatever",
        "sign_type": "MD5",
    }
    assert epay.signing_string(params) == (
        "device=devicev&money=moneyv&name=namev&notify_url=https://a.example/n?x=1&y=2"
        "&out_trade_no=out_trade_nov&pid=pidv&type=typev"
    )
    expected = hashlib.md5((epay.signing_string(params) + "k").encode()).hexdigest()  # noqa: S324
    assert epay.sign(params, "k") == expected == epay_sign(params, "k")


def test_a_signature_is_checked_whole_in_either_case_and_nothing_else_passes() -> None:
    fields = _notification()
    assert epay.signature_valid(fields, EPAY_KEY)
    assert epay.signature_valid({**fields, "sign": fields["sign"].upper()}, EPAY_KEY)
    assert not epay.signature_valid(fields, OTHER_KEY)
    assert not epay.signature_valid({**fields, "money": "12.31"}, EPAY_KEY)
    assert not epay.signature_valid({**fields, "sign": fields["sign"][:31]}, EPAY_KEY)
    assert not epay.signature_valid({**fields, "sign": fields["sign"] + "0"}, EPAY_KEY)
    assert not epay.signature_valid({k: v for k, v in fields.items() if k != "sign"}, EPAY_KEY)


# --- money ---


@pytest.mark.parametrize(
    ("text", "minor"),
    [("12.30", 1230), ("12.3", 1230), ("12", 1200), ("0.01", 1), ("0", 0), ("100000.00", 10**7)],
)
def test_money_is_read_to_the_cent_without_a_float(text: str, minor: int) -> None:
    assert epay.money_minor(text) == minor


@pytest.mark.parametrize(
    "text", ["", "1.234", "-1.00", "1e3", "01.00", " 1.00", "1,00", "0x10", "1.", ".5", "\uff11.00"]
)
def test_what_is_not_an_amount_is_none(text: str) -> None:
    assert epay.money_minor(text) is None


def test_money_is_written_with_two_places() -> None:
    assert [epay.money_text(m) for m in (1, 10, 1230, 100000)] == [
        "0.01",
        "0.10",
        "12.30",
        "1000.00",
    ]
    for bad in (0, -1, True):
        with pytest.raises(ValueError):
            epay.money_text(bad)


# --- the account ---


def test_an_account_names_what_is_wrong_and_never_shows_its_key() -> None:
    assert epay.account_problem(EPAY_PID, EPAY_KEY, "https://pay.example.com") is None
    assert "pid" in str(epay.account_problem("", EPAY_KEY, "https://pay.example.com"))
    assert "key" in str(epay.account_problem(EPAY_PID, "a key", "https://pay.example.com"))
    for root in ("pay.example.com", "ftp://pay.example.com", "https://u:p@pay.example.com"):
        assert "API root" in str(epay.account_problem(EPAY_PID, EPAY_KEY, root))
    assert "API root" in str(epay.account_problem(EPAY_PID, EPAY_KEY, "https://p.example/?x=1"))
    assert EPAY_KEY not in repr(ACCOUNT)


# --- out: the payer's link ---


def test_the_payers_link_is_submit_php_with_the_signed_fields() -> None:
    link = epay.payment_link(ACCOUNT, **_order())
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://pay.example.com/submit.php"
    fields = dict(parse_qsl(parts.query))
    assert fields == {
        "pid": EPAY_PID,
        "type": "alipay",
        "out_trade_no": "ord_0123456789",
        "notify_url": "https://gateway.example/api/public/v1/payment/webhook/epay",
        "return_url": "https://gateway.example/dashboard/wallet",
        "name": "Wallet funding",
        "money": "12.30",
        "sign": epay_sign(fields, EPAY_KEY),
        "sign_type": "MD5",
    }


def test_without_a_method_the_link_leaves_type_out_for_the_cashier_page() -> None:
    fields = epay.payment_fields(ACCOUNT, **_order(method=None, name="  Wallet \n funding "))
    assert "type" not in fields
    assert fields["name"] == "Wallet funding"
    assert fields["sign"] == epay_sign(fields, EPAY_KEY)


@pytest.mark.parametrize(
    "bad",
    [
        {"out_trade_no": ""},
        {"out_trade_no": "ord 1"},
        {"out_trade_no": "o" * 65},
        {"method": "ali&pay"},
        {"name": " \n "},
        {"money": 0},
        {"notify_url": "https://gateway.example/notify?channel=epay"},
    ],
)
def test_an_order_epay_could_not_take_is_refused_before_any_link(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        epay.payment_fields(ACCOUNT, **_order(**bad))


# --- in: the notification ---


def test_a_notification_signed_by_the_merchants_key_is_read() -> None:
    notification = epay.read_notification(_notification().items(), ACCOUNT)
    assert notification == epay.Notification(
        pid=EPAY_PID,
        trade_no="2026112517000012345",
        out_trade_no="ord_0123456789",
        method="alipay",
        name="Wallet funding",
        money=1230,
        trade_status="TRADE_SUCCESS",
    )
    assert notification.paid
    unpaid = epay.read_notification(_notification(trade_status="WAIT_BUYER_PAY").items(), ACCOUNT)
    assert not unpaid.paid


def test_every_field_sent_is_signed_even_one_the_gateway_does_not_read() -> None:
    fields = _notification(param="extra")
    assert epay.read_notification(fields.items(), ACCOUNT).out_trade_no == "ord_0123456789"
    with pytest.raises(epay.Refused) as refused:
        epay.read_notification({**fields, "param": "changed"}.items(), ACCOUNT)
    assert refused.value.reason == "signature"


def _refusal(pairs: list[tuple[str, str]]) -> str:
    with pytest.raises(epay.Refused) as refused:
        epay.read_notification(pairs, ACCOUNT)
    return refused.value.reason


def test_forged_altered_and_foreign_notifications_are_refused() -> None:
    fields = _notification()
    forged = {**fields, "sign": "0" * 32}
    assert _refusal(list(forged.items())) == "signature"
    assert _refusal(list({**fields, "money": "1230.00"}.items())) == "signature"
    assert _refusal([(k, v) for k, v in fields.items() if k != "sign"]) == "signature"
    assert _refusal(list({**fields, "sign_type": "RSA"}.items())) == "signature"
    # Another Epay merchant's notification, signed with its own key.
    theirs = {**_notification(pid=OTHER_PID)}
    theirs["sign"] = epay_sign(theirs, OTHER_KEY)
    assert _refusal(list(theirs.items())) == "signature"
    # Signed with this merchant's key but naming another merchant.
    assert _refusal(list(_notification(pid=OTHER_PID).items())) == "other_merchant"


def test_a_notification_is_bounded_before_its_signature_is_computed() -> None:
    fields = list(_notification().items())
    assert _refusal(fields + [(f"f{n}", "x") for n in range(epay.MAX_FIELDS)]) == "too_large"
    assert _refusal([*fields, ("name", "y" * 2000)]) == "too_large"
    assert _refusal([*fields, ("n" * 100, "y")]) == "too_large"
    # A field given twice: which value was signed is anyone's guess.
    assert _refusal([*fields, ("money", "99999.00")]) == "malformed"


@pytest.mark.parametrize(
    "changes",
    [
        {"money": "12.345"},
        {"money": ""},
        {"trade_no": ""},
        {"out_trade_no": "ord 1"},
        {"trade_status": ""},
    ],
)
def test_a_signed_notification_with_unreadable_fields_is_malformed(changes: dict[str, str]) -> None:
    assert _refusal(list(_notification(**changes).items())) == "malformed"


# --- asking: one order's state ---


def _answer(body: str) -> epay.OrderState:
    return epay.read_order_answer(json.loads(body), ACCOUNT, "ord_1")


def test_an_order_answer_is_read_however_php_spells_it() -> None:
    paid = _answer(
        '{"code":"1","msg":"ok","trade_no":2026112517000012345,"out_trade_no":"ord_1",'
        '"type":"wxpay","pid":1001,"money":12.3,"status":"1"}'
    )
    assert paid == epay.OrderState(
        "paid", "ord_1", trade_no="2026112517000012345", money=1230, method="wxpay", detail="ok"
    )
    opened = _answer('{"code":1,"out_trade_no":"ord_1","pid":"1001","money":"12.30","status":0}')
    assert (opened.state, opened.money) == ("open", 1230)
    missing = _answer('{"code":-1,"msg":"订单号不存在"}')
    assert (missing.state, missing.detail) == ("unknown", "订单号不存在")


@pytest.mark.parametrize(
    "body",
    [
        "[1]",
        '"code=1"',
        '{"code":1,"out_trade_no":"ord_2","status":1}',
        '{"code":1,"pid":1002,"out_trade_no":"ord_1","status":1}',
    ],
)
def test_an_answer_that_is_not_about_this_order_is_no_answer(body: str) -> None:
    with pytest.raises(epay.NotAnAnswer):
        _answer(body)


def test_the_query_url_holds_the_key_and_names_the_order() -> None:
    parts = urlsplit(epay.query_url(ACCOUNT, "ord_1"))
    assert parts.path == "/api.php"
    assert dict(parse_qsl(parts.query)) == {
        "act": "order",
        "pid": EPAY_PID,
        "key": EPAY_KEY,
        "out_trade_no": "ord_1",
    }


# --- through the stand-in: link, payer's page, notification, return and query ---


async def test_a_payment_through_the_stand_in(epay_stand_in: EpayStandIn) -> None:
    account = epay.Account(EPAY_PID, EPAY_KEY, epay_stand_in.url)
    received: list[epay.Notification] = []

    async def notify(request: Request) -> PlainTextResponse:
        try:
            received.append(epay.read_notification(request.query_params.multi_items(), account))
        except epay.Refused:
            return PlainTextResponse(epay.NACK)
        return PlainTextResponse(epay.ACK)

    async def query(http: httpx.AsyncClient, account: epay.Account) -> epay.OrderState:
        answer = await http.get(epay.query_url(account, out_trade_no))
        return epay.read_order_answer(answer.json(), account, out_trade_no)

    merchant = Starlette(routes=[Route("/notify", notify)])
    out_trade_no = "ord_" + hashlib.sha1(str(id(received)).encode()).hexdigest()[:20]  # noqa: S324
    link = epay.payment_link(
        account,
        **_order(
            out_trade_no=out_trade_no,
            notify_url="http://merchant.test/notify",
            return_url="http://merchant.test/back",
        ),
    )
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(merchant)) as to_merchant,
        local_client() as payer,
    ):
        with epay_stand_in.through(to_merchant):
            async with local_client() as http:
                before = await query(http, account)
                assert before.state == "unknown"  # the link not opened yet: Epay has no order
                page = await payer.get(link)
                assert page.status_code == 200 and "12.30" in page.text
                opened = await query(http, account)
                assert (opened.state, opened.money) == ("open", 1230)
                action = re.search(r"action='([^']+)'", page.text)
                assert action is not None
                back = await payer.post(epay_stand_in.url + action.group(1))
                after = await query(http, account)
    assert back.status_code == 302
    assert back.headers["location"].startswith("http://merchant.test/back?")
    returned = epay.read_notification(parse_qsl(urlsplit(back.headers["location"]).query), account)
    assert [n.out_trade_no for n in received] == [out_trade_no] == [returned.out_trade_no]
    assert received[0].money == 1230 and received[0].paid
    assert epay_stand_in.notifications[-1][1:] == (200, "success")
    assert (after.state, after.money, after.trade_no) == ("paid", 1230, received[0].trade_no)
    # The stand-in refuses what a deployment refuses: a link signed with the wrong key.
    wrong = epay.Account(EPAY_PID, OTHER_KEY, epay_stand_in.url)
    async with local_client() as payer:
        refused = await payer.get(epay.payment_link(wrong, **_order(out_trade_no="ord_x")))
        assert refused.status_code == 400
        async with local_client() as http:
            assert (await query(http, wrong)).state == "unknown"
