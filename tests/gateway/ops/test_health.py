import httpx
from asgi_lifespan import LifespanManager

from gateway.app import create_app
from gateway.values.settings import Settings
from tests.fixtures.core import wait_until
from tests.fixtures.redis import RedisServer


async def test_healthz_answers_without_touching_anything(ops_client: httpx.AsyncClient) -> None:
    reply = await ops_client.get("/healthz")
    assert reply.status_code == 200
    assert reply.json()["data"] == {"status": "ok"}
    assert reply.json()["code"] == 1000


async def test_readyz_stays_ready_without_redis_and_reports_it(
    settings: Settings, private_redis: RedisServer
) -> None:
    """Sends work without Redis (the outbox holds their webhooks), so readiness does not fail
    for it: a balancer following it would take every gateway down at once."""
    app = create_app(settings.model_copy(update={"redis_url": private_redis.url}))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["data"] == {"store": "ok", "redis": "ok"}

            private_redis.stop()
            down = await http.get("/readyz")
            assert down.status_code == 200
            body = down.json()
            assert body["success"] is True
            assert body["code"] == 1000
            assert body["data"] == {"store": "ok", "redis": "unavailable"}

            private_redis.start()

            async def redis_back() -> bool:
                state: str = (await http.get("/readyz")).json()["data"]["redis"]
                return state == "ok"

            await wait_until(redis_back, within=15)


async def test_readyz_names_the_store_when_it_is_down(settings: Settings) -> None:
    missing = "sqlite+aiosqlite:////nonexistent-dir/none.db"
    broken = settings.model_copy(update={"database_url": missing})
    async with LifespanManager(create_app(broken)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            down = await http.get("/readyz")
    assert down.status_code == 503
    assert down.json()["code"] == 9002
    assert down.json()["data"] == {"store": "unavailable", "redis": "ok"}
    assert "store" in down.json()["message"]
