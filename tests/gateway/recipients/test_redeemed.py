"""The recipient's page asks the merchant's New API whether each code was redeemed only
through its cache (``recipients.redeemed``): when Redis stalls past the cache's deadline, the
page is still there, every code ``unknown``, and the upstream is asked nothing, however often
the page is loaded. On SQLite and PostgreSQL."""

from datetime import timedelta

import httpx
from redis.asyncio import Redis

from gateway.mail.links import RecipientLink
from gateway.recipients import page
from gateway.recipients.redeemed import UNKNOWN, CodeStates
from gateway.redis_server import RedisServer
from gateway.store.engine import Database
from gateway.upstreams.outbound import Upstreams
from gateway.values.clock import utcnow
from keys import Sealer
from tests.fixtures.core import TEST_SECRET, local_client
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.redis import stalled
from tests.fixtures.upstreams import NewApiStandIn, newapi_body, send_body

SEALER = Sealer(TEST_SECRET.encode())


async def test_a_stalled_cache_asks_the_upstream_nothing(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    newapi_standin: tuple[NewApiStandIn, str],
    private_redis: RedisServer,
) -> None:
    newapi, root = newapi_standin
    merchant = await make_merchant("staging", balance_cents=10_000)
    await fulfil_client.put("/fulfilment/claude", json=newapi_body(root), headers=merchant.headers)
    for cents in (100, 200):
        sent = await fulfil_client.post(
            "/topup/send", json=send_body(cents, "ida@example.com"), headers=merchant.headers
        )
        assert sent.json()["code"] == 1001, sent.text
    link = RecipientLink(
        merchant.merchant_id, "staging", "ida@example.com", utcnow() + timedelta(hours=1)
    )
    redis = Redis.from_url(private_redis.url)
    client = local_client()
    states = CodeStates(redis, Upstreams(live=client, staging=client), SEALER)
    try:
        assert (await redis.ping()) is True  # connected before it stalls
        with stalled(private_redis):
            calls = newapi.faults.calls
            for _ in range(5):
                shown = await page.view(db, SEALER, link, states)
                assert shown is not None
                assert [t.redeemed for t in shown.topups] == [UNKNOWN, UNKNOWN]
            assert newapi.faults.calls == calls
    finally:
        await client.aclose()
        await redis.aclose()
