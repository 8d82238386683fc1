"""The kept clients (``destinations.clients``): one client a destination however many
deliveries race to open it, one idle past its bound closed when another is opened, and every
client closed with them; a client whose close fails, even by a cancellation of its own, is
forgotten and the delivery's own error told."""

import asyncio
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from gateway.webhooks.destinations.base import Broker, DestinationError, Message
from gateway.webhooks.destinations.clients import Clients


class Config(BaseModel):
    url: str


class Counting(Broker):
    name = "counting"
    config = Config
    schemes: ClassVar[dict[str, int]] = {"counting": 1}

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0

    async def open(self, config: Any, reach: Any) -> Any:
        self.opened += 1
        await asyncio.sleep(0)  # others race in while this one opens
        return object()

    async def publish(self, client: Any, config: Any, message: Message) -> str:
        return "ok"

    async def close(self, client: Any) -> None:
        self.closed += 1


MESSAGE = Message("evt_1", b"{}", {})


async def test_racing_deliveries_open_one_client_and_an_idle_one_is_closed() -> None:
    kind = Counting()
    # A bound below zero: every kept client is past it by the time another is opened.
    clients = Clients(allow_loopback=True, idle_seconds=-1.0)
    config = Config(url="counting://127.0.0.1")
    await asyncio.gather(*(clients.publish(kind, "a", config, MESSAGE, 5) for _ in range(20)))
    assert kind.opened == 1
    assert len(clients) == 1
    # Another destination's client: the first, idle past its bound, is closed.
    await clients.publish(kind, "b", config, MESSAGE, 5)
    assert (kind.opened, kind.closed, len(clients)) == (2, 1, 1)
    await clients.aclose()
    assert (kind.closed, len(clients)) == (2, 0)


class CancelledOnClose(Counting):
    """A client the broker ended: its publish fails, and its close raises a cancellation that
    is its own, not the caller's (aiormq's, after the broker closed the connection)."""

    async def publish(self, client: Any, config: Any, message: Message) -> str:
        raise ConnectionError("the broker closed the connection")

    async def close(self, client: Any) -> None:
        self.closed += 1
        raise asyncio.CancelledError


async def test_a_close_cancelled_by_its_client_is_forgotten_not_the_callers_cancel() -> None:
    kind = CancelledOnClose()
    clients = Clients(allow_loopback=True)
    config = Config(url="counting://127.0.0.1")
    with pytest.raises(DestinationError) as failed:
        await clients.publish(kind, "a", config, MESSAGE, 5)
    assert "not acknowledged" in str(failed.value)
    assert (kind.opened, kind.closed, len(clients)) == (1, 1, 0)
    # The next delivery opens a fresh client.
    with pytest.raises(DestinationError):
        await clients.publish(kind, "a", config, MESSAGE, 5)
    assert (kind.opened, kind.closed) == (2, 2)
