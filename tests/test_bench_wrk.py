"""The benchmark's load generator (``bench.wrk``): it reaches the server, counts what it sent,
and makes each of a send's requests a real merchant's, with a recipient and an idempotency key
of its own."""

import asyncio
import json
import shutil

import pytest

from bench import wrk
from tests.fixtures.webhooks import Receiver, Reply

pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed: apt-get install wrk"
)


async def test_each_keyed_request_is_a_send_of_its_own(receiver: Receiver) -> None:
    result = await asyncio.to_thread(
        wrk.closed_loop,
        receiver.url,
        clients=4,
        seconds=1,
        headers={"Authorization": "Bearer ak_live_x"},
        keyed=True,
    )
    assert result.requests > 0 and result.errors == 0
    assert result.requests <= len(receiver.received)  # wrk counts the answers it read
    keys = [r.headers["idempotency-key"] for r in receiver.received]
    assert len(set(keys)) == len(keys)
    bodies = [json.loads(r.body) for r in receiver.received]
    assert all(b["platform"] == "claude" and b["amount_cents"] == 100 for b in bodies)
    assert len({b["recipient_email"] for b in bodies}) > 1
    assert {r.headers["authorization"] for r in receiver.received} == {"Bearer ak_live_x"}
    assert result.percentile(0.5) <= result.percentile(0.99)


async def test_an_unkeyed_request_is_the_same_body_each_time(receiver: Receiver) -> None:
    result = await asyncio.to_thread(
        wrk.closed_loop, receiver.url, clients=2, seconds=1, body=b'{"hello": "world"}'
    )
    assert result.requests > 0 and result.errors == 0
    assert {r.body for r in receiver.received} == {b'{"hello": "world"}'}
    assert all("idempotency-key" not in r.headers for r in receiver.received)


async def test_a_refused_request_is_counted_by_what_it_answered(receiver: Receiver) -> None:
    envelope = b'{"code": 2208, "message": "Too many payments"}'
    receiver.respond = lambda _: Reply(status=429, body=envelope)
    result = await asyncio.to_thread(
        wrk.closed_loop, receiver.url, clients=2, seconds=1, body=b'{"hello": "world"}'
    )
    assert result.errors == result.requests > 0
    assert result.seen == {"429 2208": result.errors}


async def test_a_window_no_reply_came_back_in_is_taken_again_longer(receiver: Receiver) -> None:
    # Every reply takes longer than wrk's shortest window (a second), as a loaded machine's did.
    receiver.respond = lambda _: Reply(delay=1.3)
    result = await asyncio.to_thread(
        wrk.closed_loop, receiver.url, clients=2, seconds=1, body=b'{"hello": "world"}'
    )
    assert result.requests > 0 and result.errors == 0
    assert result.seconds >= 2  # the window it took, not the one it was given
