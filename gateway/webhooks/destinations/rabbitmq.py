"""``rabbitmq``: each delivery an AMQP 0-9-1 message published to the merchant's exchange with
its routing key, on a channel in publisher-confirm mode; the broker's confirm is the
acknowledgement. The message is persistent and mandatory: one no queue takes comes back, and
counts as not delivered, so it is sent again rather than dropped. The headers ride as the
message's headers, ``webhook-id`` as its ``message_id`` too."""

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


class RabbitMq(Broker):
    name = "rabbitmq"
    config = RabbitMqConfig
    schemes: ClassVar[dict[str, int]] = {"amqp": 5672, "amqps": 5671}

    async def open(self, config: Any, reach: Reach) -> Any:
        import aio_pika  # only a worker with such an endpoint loads it

        connection = await aio_pika.connect(reach.url, timeout=5.0, ssl_context=reach.tls)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        return connection, channel

    async def _exchange(self, channel: Any, config: Any, *, ensure: bool) -> Any:
        if not config.exchange:
            return channel.default_exchange
        return await channel.get_exchange(config.exchange, ensure=ensure)

    async def publish(self, client: Any, config: Any, message: Message) -> str:
        import aio_pika

        _, channel = client
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
        _, channel = client
        await self._exchange(channel, config, ensure=True)  # passive: it must exist

    async def close(self, client: Any) -> None:
        connection, _ = client
        await connection.close()


RABBITMQ = RabbitMq()
