"""One rule for every provider: a code the recipient redeemed is off their balance. A built-in
voucher leaves it when the merchant redeems it (``topup.vouchers``); a New API code when the
recipient's page learns New API has it used: the same write (the top-up's ``redeemed_at``, the
recipient's wallet debited, its ``voucher_redeemed`` entry, the ``voucher.redeemed`` event),
made once however many pages learn it at once. On SQLite and PostgreSQL."""

import asyncio
from datetime import timedelta

import httpx
from redis.asyncio import Redis

from gateway.mail.links import RecipientLink
from gateway.recipients import page
from gateway.recipients.redeemed import SPENT, UNUSED, CodeStates
from gateway.store.engine import Database
from gateway.upstreams.outbound import Upstreams
from gateway.values.clock import utcnow
from keys import Sealer
from tests.fixtures.core import TEST_SECRET, local_client
from tests.fixtures.upstreams import MakeUpstreamMerchant, NewApiStandIn, send_body

SEALER = Sealer(TEST_SECRET.encode())


async def test_a_code_spent_upstream_leaves_the_balance_once(
    fulfil_client: httpx.AsyncClient,
    newapi_merchant: MakeUpstreamMerchant,
    db: Database,
    newapi_standin: tuple[NewApiStandIn, str],
    redis_url: str,
) -> None:
    newapi, root = newapi_standin
    merchant = await newapi_merchant(balance_cents=10_000)
    sent = []
    for cents in (700, 300):
        made = await fulfil_client.post(
            "/topup/send", json=send_body(cents, "ida@example.com"), headers=merchant.headers
        )
        assert made.json()["code"] == 1001, made.text
        sent.append(made.json()["transaction_id"])
    first = next(r for r in newapi.redemptions if r["quota"] == 700 * 500_000 // 100)
    user, token = newapi.add_user()
    async with local_client() as http:
        redeemed = await http.post(
            f"{root}/api/user/topup",
            json={"key": first["key"]},
            headers={"Authorization": token, "New-Api-User": str(user)},
        )
    assert redeemed.json()["success"] is True

    link = RecipientLink(
        merchant.merchant_id, "staging", "ida@example.com", utcnow() + timedelta(hours=1)
    )
    redis = Redis.from_url(redis_url)
    client = local_client()
    states = CodeStates(redis, Upstreams(live=client, staging=client), SEALER)
    try:
        shown = await asyncio.gather(*(page.view(db, SEALER, link, states) for _ in range(4)))
        again = await page.view(db, SEALER, link, states)
    finally:
        await client.aclose()
        await redis.aclose()
    for view in (*shown, again):
        assert view is not None
        assert view.balances["Claude"] == 300
        by_id = {t.id: t for t in view.topups}
        assert by_id[sent[0]].redeemed == SPENT and by_id[sent[0]].redeemed_at is not None
        assert by_id[sent[1]].redeemed == UNUSED and by_id[sent[1]].redeemed_at is None

    listed = await fulfil_client.get("/recipients", headers=merchant.headers)
    [ida] = [r for r in listed.json()["data"] if r["email"] == "ida@example.com"]
    assert ida["balance_cents"] == 300
    shown_topup = await fulfil_client.get(f"/topup/{sent[0]}", headers=merchant.headers)
    assert shown_topup.json()["data"]["redeemed_at"] is not None
