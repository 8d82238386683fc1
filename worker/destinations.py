"""A delivery to a broker (``gateway.webhooks.destinations``): the signed message published on
the environment's kept client, and the attempt the broker's acknowledgement, or its absence,
makes. The attempt keeps no status: ``body`` says what the broker acknowledged with, ``error``
why it did not."""

from gateway.webhooks.destinations.base import DestinationError, Message
from gateway.webhooks.destinations.registry import destination

from .deps import Deps
from .posting import Attempt
from .store import Claim

__all__ = ["publish"]

# What a broker's message carries of the HTTP request's headers: those that describe the HTTP
# exchange itself stay out.
_HTTP_ONLY = frozenset({"user-agent", "accept-encoding"})


async def publish(deps: Deps, claim: Claim, message: Message) -> Attempt:
    kind = destination(claim.destination_type)
    if kind is None or claim.destination_sealed is None:
        # A type this worker does not know (an older worker beside a newer gateway): retried,
        # so a worker that knows it delivers it.
        return Attempt(error=f"destination type {claim.destination_type!r} not known here")
    headers = {
        name.lower(): value
        for name, value in message.headers.items()
        if name.lower() not in _HTTP_ONLY
    }
    message = Message(message.id, message.body, headers)
    try:
        config = deps.destination(
            claim.endpoint_id, claim.destination_type, claim.destination_sealed
        )
        published = await deps.clients(claim.env).publish(
            kind, claim.destination_sealed, config, message, deps.settings.webhook_timeout_seconds
        )
    except DestinationError as exc:
        return Attempt(error=str(exc), final=exc.final)
    return Attempt(acked=True, body=f"acknowledged: {published.ack}"[:500])
