"""The clients a gateway opens: Redis is connected on first use, so a gateway starts and serves
while Redis is down, and finds it once it answers."""

import httpx
from redis.asyncio import Redis

from gateway import outbox
from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, running_app, wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.redis import RedisServer
from tests.fixtures.webhooks import make_endpoint

SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "user@example.com"}


async def test_a_gateway_started_without_redis_serves_and_wakes_the_workers_once_it_is_back(
    settings: Settings, private_redis: RedisServer, make_merchant: MakeMerchant
) -> None:
    private_redis.stop()
    chosen = settings.model_copy(
        update={"redis_url": private_redis.url, "allow_private_webhook_urls": True}
    )
    async with running_app(chosen) as app, asgi_client(app) as http:
        merchant = await make_merchant()
        await make_endpoint(http, merchant, "http://127.0.0.1:9/hook")
        sent = await http.post("/topup/send", json=SEND, headers=merchant.headers)
        assert sent.status_code == 200, sent.text
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        ) as root:
            ready = await root.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["data"] == {"store": "ok", "redis": "unavailable"}

        private_redis.start()
        redis = Redis.from_url(private_redis.url)
        try:
            async with redis.pubsub() as wakes:
                await wakes.subscribe(outbox.WAKE_CHANNEL)
                again = await http.post("/topup/send", json=SEND, headers=merchant.headers)
                assert again.status_code == 200, again.text
                heard: set[bytes] = set()

                async def woken() -> bool:
                    message = await wakes.get_message(True, timeout=0.1)
                    if message is not None:
                        heard.add(message["data"])
                    return b"webhook" in heard

                await wait_until(woken, within=5)
        finally:
            await redis.aclose()
