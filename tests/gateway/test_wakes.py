"""After-commit wakes: at once when idle, once for every kind when busy, never raising."""

import asyncio

from arq import create_pool
from arq.connections import RedisSettings

from gateway import outbox
from gateway.redis_client import ANSWER_WITHIN
from gateway.wakes import Waker
from tests.fixtures.redis import RedisServer, kinds_heard, listening, stalled


async def test_an_idle_waker_wakes_at_once_and_a_busy_one_once_for_every_kind(
    private_redis: RedisServer,
) -> None:
    async with listening(private_redis.url) as (pool, wakes):
        waker = Waker(pool, linger=60)
        started = asyncio.get_running_loop().time()
        waker.wake(["dlv_a"])
        await waker.drain()
        assert asyncio.get_running_loop().time() - started < 30, "it waited for the linger"
        assert await kinds_heard(wakes) == ["webhook"]
        # Within the linger of that wake: these wait for it to pass, and go together.
        waker.wake(["dlv_b"])
        await asyncio.sleep(0)  # one step: the wake's task starts, and lingers
        waker.wake(["dlv_c", "mail_a"])
        waker.wake(["mail_b", "dlv_d"])
        assert await kinds_heard(wakes) == []
        await waker.drain()  # cuts the linger short
        # One publish for both kinds.
        assert await wakes.get_message(True, timeout=5) == {
            "type": "message",
            "pattern": None,
            "channel": outbox.WAKE_CHANNEL.encode(),
            "data": b"mail webhook",
        }
        assert await kinds_heard(wakes) == []


def test_a_rows_kind_is_its_ids_prefix() -> None:
    assert outbox.kinds_of(["dlv_x", "mail_y", "dlv_z"]) == {outbox.WEBHOOK, outbox.MAIL}
    assert outbox.kinds_of(["evt_x"]) == set()
    # Every lane's prefix, and ids that have none or only part of one.
    for prefix, kind in outbox._KIND_BY_PREFIX.items():
        assert outbox.kinds_of([f"{prefix}0mx1"]) == {kind}
    assert outbox.kinds_of(["dlv", "dl_x", "x_dlv_y", "", "_"]) == set()
    assert outbox.kinds_of(iter(["pay_a", "tgm_b"])) == {outbox.PAYMENT, outbox.TELEGRAM}


async def test_an_unreachable_redis_fails_no_request(private_redis: RedisServer) -> None:
    """Best effort: the rows are written and every worker finds them on its own."""
    pool = await create_pool(RedisSettings.from_dsn(private_redis.url))
    private_redis.stop()
    try:
        waker = Waker(pool)
        waker.wake(["dlv_a", "mail_b"])
        await waker.drain()
    finally:
        await pool.aclose()


async def test_a_stalled_redis_holds_a_drain_no_longer_than_its_bound(
    private_redis: RedisServer,
) -> None:
    """A server that answers nothing refuses nothing either: no retry ends the wait, the bound
    does (``ANSWER_WITHIN``), and a stopping gateway's drain is not held by it."""
    pool = await create_pool(RedisSettings.from_dsn(private_redis.url))  # connected: it pings
    try:
        with stalled(private_redis):
            waker = Waker(pool)
            loop = asyncio.get_running_loop()
            started = loop.time()
            waker.wake(["dlv_a", "mail_b"])
            async with asyncio.timeout(30):  # unbounded, it waits on the kernel: minutes
                await waker.drain()
            assert ANSWER_WITHIN <= loop.time() - started < ANSWER_WITHIN + 4
    finally:
        await pool.aclose()
