"""A publish is tried once by its client: the worker's schedule is the only retry, and each of
its tries is in the delivery log. A client that resent a request under it (botocore's default
retry of a server error, redis-py's of a dropped connection) could put one event on a broker
twice, after the broker took it, with nothing in the log to say so.

The far sides are on 127.0.0.1 and count what reaches them: an AWS endpoint that takes every
request and answers ``500`` (which botocore resends by default), and a Redis that takes an
``XADD`` and closes the connection before it answers."""

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.webhooks.destinations.base import Broker, DestinationError, Message
from gateway.webhooks.destinations.clients import Clients
from gateway.webhooks.destinations.eventbridge import EVENTBRIDGE, EventBridgeConfig
from gateway.webhooks.destinations.redis_stream import REDIS_STREAM, RedisStreamConfig
from gateway.webhooks.destinations.sqs import SQS, SqsConfig
from tests.fixtures.brokers import redis_stand_in
from tests.fixtures.stand_ins import served

MESSAGE = Message("evt_1", b'{"type":"webhook.test"}', {"webhook-id": "evt_1"})
KEYS = {"region": "us-east-1", "access_key_id": "testing", "secret_access_key": "testing-secret"}


class FailingAws:
    """An AWS endpoint whose every request was taken and answered ``500 InternalError``."""

    url = ""

    def __init__(self) -> None:
        self.requests = 0

    def app(self) -> Starlette:
        async def taken(request: Request) -> JSONResponse:
            await request.body()
            self.requests += 1
            return JSONResponse({"__type": "InternalError", "message": "taken"}, status_code=500)

        return Starlette(routes=[Route("/{path:path}", taken, methods=["POST"])])


@pytest.mark.parametrize("kind", ["sqs", "eventbridge"])
async def test_an_aws_publish_answered_with_a_server_error_is_sent_once(kind: str) -> None:
    async with served(FailingAws()) as aws:
        config: Any
        broker: Broker
        if kind == "sqs":
            broker = SQS
            config = SqsConfig(queue_url=f"{aws.url}/123456789012/q", endpoint_url=aws.url, **KEYS)
        else:
            broker = EVENTBRIDGE
            config = EventBridgeConfig(bus="b", source="s", endpoint_url=aws.url, **KEYS)
        clients = Clients(allow_loopback=True)
        try:
            with pytest.raises(DestinationError) as failed:
                await clients.publish(broker, "d", config, MESSAGE, 10)
        finally:
            await clients.aclose()
    assert "InternalError" in str(failed.value)
    assert aws.requests == 1


async def test_a_redis_xadd_whose_connection_drops_is_sent_once() -> None:
    async with redis_stand_in(drop_on=b"XADD") as redis:
        config = RedisStreamConfig(url=f"redis://127.0.0.1:{redis.port}/0", stream="s")
        clients = Clients(allow_loopback=True)
        try:
            with pytest.raises(DestinationError):
                await clients.publish(REDIS_STREAM, "d", config, MESSAGE, 10)
        finally:
            await clients.aclose()
    assert redis.commands.count(b"XADD") == 1
