"""Every destination type, by the name an endpoint's ``type`` gives: one line a type, ``http``
(every endpoint's before there were others) first. The worker's delivery asks here for every
type; saving a broker's destination asks for its ``Broker``."""

from .base import Broker, Destination
from .eventbridge import EVENTBRIDGE
from .http import HTTP_TYPE
from .nats import NATS
from .pubsub import PUBSUB
from .rabbitmq import RABBITMQ
from .redis_stream import REDIS_STREAM
from .sqs import SQS

__all__ = ["DESTINATIONS", "HTTP", "broker", "destination", "type_names"]

HTTP = HTTP_TYPE.name

DESTINATIONS: dict[str, Destination] = {
    HTTP: HTTP_TYPE,
    REDIS_STREAM.name: REDIS_STREAM,
    RABBITMQ.name: RABBITMQ,
    NATS.name: NATS,
    SQS.name: SQS,
    EVENTBRIDGE.name: EVENTBRIDGE,
    PUBSUB.name: PUBSUB,
}


def destination(name: str) -> Destination | None:
    return DESTINATIONS.get(name)


def broker(name: str) -> Broker | None:
    """A broker's type, whose destination object an endpoint saves; ``None`` for ``http``."""
    found = DESTINATIONS.get(name)
    return found if isinstance(found, Broker) else None


def type_names() -> list[str]:
    """Read at each call: a test registers a type of its own."""
    return list(DESTINATIONS)
