"""The benchmarks' own closed loop (``bench.load``): a window that a busy machine lets no
request begin in reads as slow, never as nothing done."""

from bench.load import closed_loop, open_loop
from tests.fixtures.webhooks import Receiver, Reply


async def test_a_window_shorter_than_one_request_still_measures_one(receiver: Receiver) -> None:
    receiver.respond = lambda _: Reply(delay=0.3)  # each request outlasts the whole window
    result = await closed_loop(receiver.url, [b"{}"], {}, clients=2, seconds=0.05, warmup=0.1)
    assert result.requests >= 1 and result.errors == 0
    assert 0 < result.throughput < 2 / 0.3  # two clients, each a request per 0.3 s at best
    assert result.seconds > 0.05  # the window it took, not the one it was given


async def test_a_window_requests_begin_in_is_the_one_given(receiver: Receiver) -> None:
    result = await closed_loop(receiver.url, [b"{}"], {}, clients=2, seconds=0.3, warmup=0.1)
    assert result.requests > 2 and result.errors == 0
    assert result.seconds == 0.3


async def test_a_keyed_loop_gives_each_request_an_idempotency_key_of_its_own(
    receiver: Receiver,
) -> None:
    """Where ``wrk`` is not installed the send's closed loop is this one: each request is a
    send of its own, as wrk's keyed loop makes it (the database anchor reads the key)."""
    result = await closed_loop(
        receiver.url, [b"{}"], {}, clients=4, seconds=0.2, warmup=0.05, keyed=True
    )
    assert result.requests > 0 and result.errors == 0
    keys = [r.headers["idempotency-key"] for r in receiver.received]
    assert len(keys) == len(receiver.received) and len(set(keys)) == len(keys)


async def test_a_failed_request_is_counted_with_what_it_answered(receiver: Receiver) -> None:
    """A refusal is a figure of the run, never an exception: each loop counts the requests
    that failed, by their status and the gateway's code."""
    envelope = b'{"code": 9003, "message": "the store did not answer in time"}'
    answers = iter(range(1_000_000))
    receiver.respond = lambda _: (
        Reply(status=503, body=envelope) if next(answers) % 2 else Reply(body=b"{}")
    )
    closed = await closed_loop(receiver.url, [b"{}"], {}, clients=2, seconds=0.3, warmup=0.05)
    assert 0 < closed.errors < closed.requests
    assert closed.seen == {"503 9003": closed.errors}
    opened = await open_loop(receiver.url, [b"{}"], {}, rate=100, seconds=0.3, warmup=0.05)
    assert 0 < opened.errors < opened.requests
    assert opened.seen == {"503 9003": opened.errors}


async def test_a_request_no_answer_came_to_is_a_failure_too(receiver: Receiver) -> None:
    receiver.respond = lambda _: Reply(mode="reset")
    result = await closed_loop(receiver.url, [b"{}"], {}, clients=2, seconds=0.2, warmup=0.05)
    assert result.errors == result.requests > 0
    assert all(seen.startswith("no answer (") for seen in result.seen), result.seen
