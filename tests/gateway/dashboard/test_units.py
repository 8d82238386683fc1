"""New API's quota named beside the money wherever a New API amount is shown: a top-up's page,
the recipient's page and the fulfilment page; counted by the one rule (``values.money.quota_of``)
the code itself was made with, at the merchant's rate."""

import re

import httpx
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import MerchantUser, User, table_of
from gateway.values.money import NEWAPI_QUOTA_PER_USD, quota_of
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.upstreams import NewApiStandIn, newapi_body, send_body

_U = table_of(User)
_MU = table_of(MerchantUser)


def test_the_quota_is_cents_at_the_rate_rounded_down() -> None:
    assert NEWAPI_QUOTA_PER_USD == 500_000
    assert quota_of(250) == 1_250_000
    assert quota_of(250, None) == quota_of(250, NEWAPI_QUOTA_PER_USD)
    assert quota_of(1, 333) == 3  # 3.33 quota: a code holds whole units
    assert quota_of(0) == 0


async def test_a_new_api_amount_is_shown_with_its_quota_on_every_page(
    fulfil_app: ASGIApp,
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
    db: Database,
) -> None:
    newapi, root = newapi_standin
    async with dashboard_client(fulfil_app) as browser:
        owner = await sign_up_on(browser)
        async with db.read() as conn:
            merchant_id = (
                await conn.execute(
                    select(_MU.c.merchant_id)
                    .join(_U, _U.c.id == _MU.c.user_id)
                    .where(_U.c.email == owner.email)
                )
            ).scalar_one()
        merchant = await make_merchant("staging", merchant_id=merchant_id)
        saved = await fulfil_client.put(
            "/fulfilment/claude",
            json={**newapi_body(root), "quota_per_usd": 400_000},
            headers=merchant.headers,
        )
        assert saved.status_code == 200, saved.text
        sent = await fulfil_client.post(
            "/topup/send", json=send_body(250), headers=merchant.headers
        )
        assert sent.json()["code"] == 1001, sent.text
        [made] = newapi.redemptions
        assert made["quota"] == quota_of(250, 400_000) == 1_000_000  # what the code holds

        shown = await browser.get(f"/topups/{sent.json()['transaction_id']}")
        quota = re.search(r'<span class="muted" id="quota">\(([^)]*)\)</span>', shown.text)
        assert quota is not None and quota.group(1) == "1,000,000 New API quota", shown.text
        assert "$2.50" in shown.text

        fulfilment = await browser.get("/fulfilment")
        assert re.search(r'id="quota-claude">\$1.00 = 400,000 New API quota<', fulfilment.text)

        mails = (await fulfil_client.get("/emails", headers=merchant.headers)).json()["data"]
        link = next(m for m in mails if m["kind"] in ("voucher", "upstream_code"))["link"]
        page = await browser.get(link.split("/dashboard", 1)[1])
        assert page.status_code == 200, page.text
        assert 'data-quota="1000000">(1,000,000 New API quota)<' in page.text

        # In Chinese, the unit keeps its name beside the money in the reader's locale.
        chosen = await owner.post("/account/language", {"language": "zh"}, page="/account")
        assert chosen.is_redirect
        translated = await browser.get(f"/topups/{sent.json()['transaction_id']}")
        assert "1,000,000 New API 额度" in translated.text
        assert "US$2.50" in translated.text
        # Through the gateway's own voucher, no quota: the amount is not New API's.
        await fulfil_client.put(
            "/fulfilment/claude", json={"provider": "voucher"}, headers=merchant.headers
        )
        own = await fulfil_client.post("/topup/send", json=send_body(300), headers=merchant.headers)
        assert own.json()["code"] == 1001, own.text
        plain = await browser.get(f"/topups/{own.json()['transaction_id']}")
        assert plain.status_code == 200 and 'id="quota"' not in plain.text
