"""``rabbitmq``: each delivery an AMQP 0-9-1 message published to the merchant's exchange with
its routing key, on a channel in publisher-confirm mode; the broker's confirm is the
acknowledgement. The message is persistent and mandatory: one no queue takes comes back, and
counts as not delivered, so it is sent again rather than dropped. The headers ride as the
message's headers, ``webhook-id`` as its ``message_id`` too.

A connection the broker ends (its ``Connection.Close``, or its side of the socket closed) is
left half-open by aiormq: its writer is never closed (mosquito/aiormq#231), and the socket stays
open until the writer is collected, with a ``ResourceWarning``. The client's connection is made
through aiormq's ``TransportFactory`` hook, its own TCP or TLS transport with the writer kept,
and closed as soon as the connection is (aio-pika's ``close_callbacks``), and again with the
client."""

import asyncio
import contextlib
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from ...values.model import Model
from .base import Broker, Message, Reach

__all__ = ["RABBITMQ", "RabbitMqConfig"]


class RabbitMqConfig(Model):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="amqp://user:password@host:5672/vhost")
    exchange: str = Field(
        max_length=255, description="The exchange; empty: the default exchange, by queue name."
    )
    routing_key: str = Field(default="", max_length=255)


class _KeptWriter:
    """aiormq's own transport for the URL's scheme, its writer kept to close."""

    def __init__(self, tls: bool) -> None:
        import aiormq.connection

        self._made = (
            aiormq.connection.TLSTransportFactory()
            if tls
            else aiormq.connection.TCPTransportFactory()
        )
        self.writer: asyncio.StreamWriter | None = None

    async def create(self, url: Any, **kwargs: Any) -> tuple[asyncio.StreamReader, Any]:
        reader, writer = await self._made.create(url, **kwargs)
        self.writer = writer
        return reader, writer

    def close(self, *_: Any) -> None:
        """The socket closed, whoever ended the connection; nothing if it already is."""
        if self.writer is not None and not self.writer.is_closing():
            self.writer.close()


def _forgotten(connection: Any) -> None:
    """A connection that never connected, told closed: aio-pika's ``close`` of one returns
    without resolving ``closed()``, and its ``__del__`` then makes a ``close`` coroutine for a
    connection it takes as open, never awaited where no loop runs (a ``RuntimeWarning`` at
    whatever runs when it is collected)."""
    closed = connection.closed()
    if isinstance(closed, asyncio.Future) and not closed.done():
        closed.set_result(True)


class RabbitMq(Broker):
    name = "rabbitmq"
    config = RabbitMqConfig
    schemes: ClassVar[dict[str, int]] = {"amqp": 5672, "amqps": 5671}

    async def open(self, config: Any, reach: Reach) -> Any:
        import aio_pika  # only a worker with such an endpoint loads it
        from aio_pika.connection import make_url

        kept = _KeptWriter(reach.url.lower().startswith("amqps:"))
        connection = aio_pika.Connection(make_url(reach.url), ssl_context=reach.tls)
        connection.kwargs["transport_factory"] = kept  # handed to aiormq's connection
        try:
            await connection.connect(timeout=5.0)
            connection.close_callbacks.add(kept.close)
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.close()
            kept.close()
            _forgotten(connection)
            raise
        return connection, channel, kept

    async def _exchange(self, channel: Any, config: Any, *, ensure: bool) -> Any:
        if not config.exchange:
            return channel.default_exchange
        return await channel.get_exchange(config.exchange, ensure=ensure)

    async def publish(self, client: Any, config: Any, message: Message) -> str:
        import aio_pika

        _, channel, _ = client
        exchange = await self._exchange(channel, config, ensure=False)
        confirm = await exchange.publish(
            aio_pika.Message(
                message.body,
                headers=dict(message.headers),
                message_id=message.id,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=config.routing_key,
            mandatory=True,
        )
        return f"confirmed: {type(confirm).__name__}"

    async def probe(self, client: Any, config: Any) -> None:
        _, channel, _ = client
        await self._exchange(channel, config, ensure=True)  # passive: it must exist

    async def close(self, client: Any) -> None:
        connection, _, kept = client
        try:
            await connection.close()
        finally:
            kept.close()


RABBITMQ = RabbitMq()
