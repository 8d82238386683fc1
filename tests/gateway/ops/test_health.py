import httpx
from asgi_lifespan import LifespanManager

from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import RedisServer, wait_until


async def test_healthz_answers_without_touching_anything(ops_client: httpx.AsyncClient) -> None:
    reply = await ops_client.get("/healthz")
    assert reply.status_code == 200
    assert reply.json()["data"] == {"status": "ok"}
    assert reply.json()["code"] == 1000


async def test_readyz_names_redis_while_it_is_down_and_recovers(
    settings: Settings, private_redis: RedisServer
) -> None:
    app = create_app(settings.model_copy(update={"redis_url": private_redis.url}))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["data"] == {"store": "ok", "redis": "ok"}

            private_redis.stop()
            down = await http.get("/readyz")
            assert down.status_code == 503
            body = down.json()
            assert body["success"] is False
            assert body["code"] == 9002
            assert "Redis" in body["message"]
            assert body["data"] == {"store": "ok", "redis": "unavailable"}

            private_redis.start()

            async def ready_again() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await wait_until(ready_again, within=15)


async def test_readyz_names_the_store_when_it_is_down(settings: Settings) -> None:
    missing = "sqlite+aiosqlite:////nonexistent-dir/none.db"
    broken = settings.model_copy(update={"database_url": missing})
    async with LifespanManager(create_app(broken)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            down = await http.get("/readyz")
    assert down.status_code == 503
    assert down.json()["data"] == {"store": "unavailable", "redis": "ok"}
    assert "store" in down.json()["message"]
