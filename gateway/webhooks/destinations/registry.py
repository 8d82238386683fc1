"""Every destination type, by the name an endpoint's ``type`` gives: one line a type. ``http``,
every endpoint's before there were others, is the worker's checked transport and is not here."""

from .base import Destination
from .eventbridge import EVENTBRIDGE
from .nats import NATS
from .pubsub import PUBSUB
from .rabbitmq import RABBITMQ
from .redis_stream import REDIS_STREAM
from .sqs import SQS

__all__ = ["DESTINATIONS", "HTTP", "destination", "type_names"]

HTTP = "http"

DESTINATIONS: dict[str, Destination] = {
    REDIS_STREAM.name: REDIS_STREAM,
    RABBITMQ.name: RABBITMQ,
    NATS.name: NATS,
    SQS.name: SQS,
    EVENTBRIDGE.name: EVENTBRIDGE,
    PUBSUB.name: PUBSUB,
}


def destination(name: str) -> Destination | None:
    return DESTINATIONS.get(name)


def type_names() -> list[str]:
    """Read at each call: a test registers a type of its own."""
    return [HTTP, *DESTINATIONS]
