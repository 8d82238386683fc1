"""A RabbitMQ that ends a destination's connection politely leaves nothing open: neither its
``Connection.Close`` (as ``rabbitmqctl close_connection`` sends it, then its side of the socket
closed) nor its side of the socket closed alone (a FIN, not a reset). aiormq leaves its writer
half-open either way (mosquito/aiormq#231); the destination's client closes it, as soon as the
connection is closed and again when the client is. Warnings are errors here, those raised where
a socket is collected too."""

import asyncio
import contextlib
import gc
import struct
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from gateway.redis_server import PortHold
from gateway.webhooks.destinations.base import Message, Reach
from gateway.webhooks.destinations.clients import Clients
from gateway.webhooks.destinations.rabbitmq import RABBITMQ, RabbitMqConfig
from tests.fixtures.core import wait_until

AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"
_FRAME_END = 0xCE


class PoliteProxy:
    """Forwards to RabbitMQ (5672) whole frames at a time from the broker, so that it can end
    a connection as the broker does: ``Connection.Close`` (320, CONNECTION_FORCED), the client's
    ``Close-Ok`` awaited, then the socket closed with a FIN; or the socket closed alone."""

    def __init__(self) -> None:
        self._hold = PortHold()
        self.port = self._hold.port
        self._server: asyncio.Server | None = None
        self._links: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, set[asyncio.Task[Any]]]]
        self._links = []
        self._ending: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        far_reader, far_writer = await asyncio.open_connection("127.0.0.1", 5672)

        async def upstream() -> None:
            with contextlib.suppress(OSError):
                while chunk := await reader.read(65536):
                    far_writer.write(chunk)
                    await far_writer.drain()

        async def downstream() -> None:  # frame by frame: a close goes in between two
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while True:
                    head = await far_reader.readexactly(7)
                    (size,) = struct.unpack(">I", head[3:])
                    writer.write(head + await far_reader.readexactly(size + 1))
                    await writer.drain()

        up = asyncio.create_task(upstream())
        down = asyncio.create_task(downstream())
        self._links.append((reader, writer, {up, down}))
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            up.cancel()
            down.cancel()
            far_writer.close()
            if writer not in self._ending:  # else ``end`` closes it, after its last word
                writer.close()

    async def end(self, *, close_frame: bool) -> None:
        """Every connection through it ended by the broker's side, politely."""
        import pamqp.commands
        import pamqp.frame

        for reader, writer, pipes in self._links:
            self._ending.add(writer)
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            if close_frame:
                close = pamqp.commands.Connection.Close(
                    reply_code=320,
                    reply_text="CONNECTION_FORCED - closed by the operator",
                    class_id=0,
                    method_id=0,
                )
                writer.write(pamqp.frame.marshal(close, 0))
                await writer.drain()
                with contextlib.suppress(OSError):  # its Close-Ok, or the client gone
                    await asyncio.wait_for(reader.read(65536), 5)
            writer.close()  # a FIN, not a reset
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._links.clear()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for _, writer, pipes in self._links:  # those opened after an end
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            writer.close()
        self._links.clear()
        self._hold.close()


@contextlib.asynccontextmanager
async def polite_proxy() -> AsyncIterator[PoliteProxy]:
    proxy = PoliteProxy()
    await proxy.open()
    try:
        yield proxy
    finally:
        await proxy.close()


@contextlib.contextmanager
def warnings_are_errors() -> Iterator[list[str]]:
    """Every warning an error, those raised while an object is collected (a socket left open
    says so in ``__del__``) kept: what was raised, to assert there was none."""
    raised: list[str] = []
    before = sys.unraisablehook

    def kept(unraisable: Any) -> None:
        raised.append(f"{unraisable.exc_type.__name__}: {unraisable.exc_value}")

    sys.unraisablehook = kept
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield raised
            gc.collect()
    finally:
        sys.unraisablehook = before


async def _queue() -> tuple[Any, str]:
    """A queue of the test's own, on a connection of its own (closed by the caller)."""
    import aio_pika

    connection = await aio_pika.connect(AMQP)
    channel = await connection.channel()
    queue = await channel.declare_queue(f"aitopup-test-{uuid.uuid4().hex}", exclusive=True)
    return connection, queue.name


MESSAGE = Message("evt_1", b"{}", {"webhook-id": "evt_1"})


@pytest.mark.parametrize("close_frame", [True, False], ids=["connection-close", "fin"])
async def test_a_broker_ending_the_connection_politely_leaves_no_socket_open(
    close_frame: bool,
) -> None:
    owner, queue = await _queue()
    try:
        with warnings_are_errors() as raised:
            async with polite_proxy() as proxy:
                config = RabbitMqConfig(url=AMQP, exchange="", routing_key=queue)
                url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/%2F"
                reach = Reach(url=url, by_name=url, name="127.0.0.1", tls=None, allow_loopback=True)
                client = await RABBITMQ.open(config, reach)
                connection, _, kept = client
                assert (await RABBITMQ.publish(client, config, MESSAGE)).startswith("confirmed")

                await proxy.end(close_frame=close_frame)

                async def closed(kept: Any = kept) -> bool:
                    return bool(kept.writer.is_closing())

                # Closed with the connection, before the client is.
                await wait_until(closed, within=10)
                await RABBITMQ.close(client)
                del client, connection, kept
                for _ in range(3):
                    await asyncio.sleep(0)
        assert raised == []
    finally:
        await owner.close()


async def test_kept_clients_drop_a_politely_ended_connection_and_open_a_fresh_one() -> None:
    """Through the kept clients, as the worker's deliveries go: the publish after the broker
    ended the connection fails and drops the client, leaving nothing open; the next opens a
    fresh connection and is confirmed."""
    owner, queue = await _queue()
    try:
        with warnings_are_errors() as raised:
            async with polite_proxy() as proxy:
                config = RabbitMqConfig(
                    url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/%2F",
                    exchange="",
                    routing_key=queue,
                )
                clients = Clients(allow_loopback=True)
                try:
                    await clients.publish(RABBITMQ, "a", config, MESSAGE, 5)
                    await proxy.end(close_frame=True)
                    with contextlib.suppress(Exception):
                        await clients.publish(RABBITMQ, "a", config, MESSAGE, 5)
                    again = await clients.publish(RABBITMQ, "a", config, MESSAGE, 5)
                    assert again.ack.startswith("confirmed")
                finally:
                    await clients.aclose()
                for _ in range(3):
                    await asyncio.sleep(0)
        assert raised == []
    finally:
        await owner.close()
