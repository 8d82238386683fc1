"""``nats``: each delivery a JetStream publish to the merchant's subject, its headers as NATS
message headers; the stream's publish ack (its name and sequence) is the acknowledgement. A
subject no stream captures has no ack: the attempt fails and is sent again on the schedule."""

import contextlib
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from ...values.model import Model
from .base import Broker, DestinationError, Message, Reach

__all__ = ["NATS", "NatsConfig"]


class NatsConfig(Model):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="nats://[user:password@]host:4222")
    subject: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[^\s*>]+$",
        description="A JetStream subject a stream captures; no wildcards.",
    )


class Nats(Broker):
    name = "nats"
    config = NatsConfig
    schemes: ClassVar[dict[str, int]] = {"nats": 4222, "tls": 4222}

    async def open(self, config: Any, reach: Reach) -> Any:
        from nats.aio.client import Client  # only a worker with such an endpoint loads it

        # tls_hostname: a nats:// server may ask for TLS too, and is verified by name as well.
        client = Client()
        try:
            await client.connect(
                servers=[reach.url],
                connect_timeout=5,
                allow_reconnect=False,
                max_reconnect_attempts=0,
                tls=reach.tls,  # None: nats-py's own context, should a nats:// server ask
                tls_hostname=reach.name,
            )
        except BaseException:
            # A connect that failed leaves its socket open (nats-py's): closed here.
            with contextlib.suppress(Exception):
                await client.close()
            raise
        return client, client.jetstream()

    async def publish(self, client: Any, config: Any, message: Message) -> str:
        _, stream = client
        ack = await stream.publish(config.subject, message.body, headers=dict(message.headers))
        return f"{ack.stream}:{ack.seq}"

    async def probe(self, client: Any, config: Any) -> None:
        from nats.js.errors import NotFoundError

        _, stream = client
        try:
            await stream.find_stream_name_by_subject(config.subject)
        except NotFoundError:
            raise DestinationError(f"no JetStream stream captures {config.subject!r}") from None

    def retryable(self, exc: BaseException) -> bool:
        from nats.errors import MaxPayloadError

        return not isinstance(exc, MaxPayloadError)

    async def close(self, client: Any) -> None:
        connection, _ = client
        await connection.close()


NATS = Nats()
