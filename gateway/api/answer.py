"""A route's last step: perform the operation, render its ``Outcome`` as the envelope."""

from collections.abc import Awaitable

from starlette.requests import Request

from ..operations import perform
from ..services import services
from ..values.envelope import Envelope
from ..values.outcome import Outcome

__all__ = ["answer"]


async def answer(
    request: Request, operation: Awaitable[Outcome], *, headers: dict[str, str] | None = None
) -> Envelope:
    """The operation's outbox rows wake the workers after it committed (``perform``); the reply is
    its outcome, with ``headers`` (a limit's, a Location)."""
    outcome = await perform(services(request).waker, operation)
    return Envelope.of(outcome, headers=headers)
