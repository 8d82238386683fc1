"""``pubsub``: each delivery one message published to the merchant's Google Cloud Pub/Sub topic,
the webhook body as its data and the headers as its attributes; the message id Pub/Sub answers
is the acknowledgement. ``credentials`` is the service account's key file (JSON), with which
the client gets its own access tokens; ``endpoint_url`` points at an emulator (or this
gateway's stand-in, ``gateway.standins.pubsub``), to which, as Google's own clients do for an
emulator, no token is sent."""

import io
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from ...values.model import Model
from .base import Broker, DestinationError, Message

__all__ = ["PUBSUB", "PubSubConfig"]

_TOPIC = r"^projects/[a-z][a-z0-9-]+/topics/[A-Za-z][A-Za-z0-9._~+%-]+$"


class PubSubConfig(Model):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(pattern=_TOPIC, max_length=300, description="projects/PROJECT/topics/TOPIC")
    credentials: str | None = Field(
        default=None, max_length=10_000, description="The service account's key file (JSON)."
    )
    endpoint_url: str | None = Field(default=None, max_length=2048)


class PubSub(Broker):
    name = "pubsub"
    config = PubSubConfig
    schemes: ClassVar[dict[str, int]] = {"https": 443, "http": 80}
    secrets = frozenset({"credentials"})

    def address(self, config: Any) -> str:
        url: str = config.endpoint_url or "https://pubsub.googleapis.com"
        return url

    async def open(self, config: Any, url: str) -> Any:
        from gcloud.aio.pubsub import PublisherClient  # only a worker with such an endpoint

        if config.endpoint_url:
            return PublisherClient(api_root=f"{url.rstrip('/')}/v1")
        if not config.credentials:
            raise DestinationError("credentials (a service account's key file) are needed")
        return PublisherClient(service_file=io.StringIO(config.credentials))

    async def publish(self, client: Any, config: Any, message: Message) -> str:
        from gcloud.aio.pubsub import PubsubMessage

        sent = await client.publish(config.topic, [PubsubMessage(message.body, **message.headers)])
        return str(sent["messageIds"][0])

    async def probe(self, client: Any, config: Any) -> None:
        project = config.topic.split("/topics/")[0]
        listed = await client.list_topics(project)
        if config.topic not in {topic.get("name") for topic in listed.get("topics", [])}:
            raise DestinationError(f"no topic {config.topic}")

    async def close(self, client: Any) -> None:
        await client.close()


PUBSUB = PubSub()
