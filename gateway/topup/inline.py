"""The upstream's first try of a send handed to it (``fulfilling`` in a send's or an approval's
answer), made by the request that handed it, money first and network after: once the send (or
its approval) committed. Both the send's door (``doors``) and a held send's approval
(``hold``) run it."""

from typing import TYPE_CHECKING

from ..callers import Caller
from ..mail import caps
from ..operations import performed
from ..values.outcome import Outcome
from . import fulfilling as attempting

if TYPE_CHECKING:  # a door hands the clients; the worker ending holds loads none of them
    from ..services import Services

__all__ = ["first_try", "fulfilling"]


def fulfilling(outcome: Outcome) -> bool:
    """Whether ``outcome`` handed a send to its upstream, for its first try now."""
    return outcome.handed_upstream and not outcome.replayed


async def first_try(
    svc: "Services", caller: Caller, pending: Outcome, settle: attempting.Settle | None = None
) -> Outcome:
    """The upstream's first try, within ``AITOPUP_FULFILMENT_INLINE_SECONDS``: delivered (or
    failed) now if it answers in time, else still pending, for the worker to finish once the
    work falls due. ``settle``: the send's idempotency key takes the outcome it settled."""
    assert pending.transaction_id is not None and svc.upstreams is not None
    gates = caps.Gates(svc.redis, svc.settings)
    tried = await attempting.attempt(
        svc.db,
        svc.sealer,
        svc.settings,
        svc.upstreams.for_env,
        pending.transaction_id,
        1,
        reveal=caller.sees_codes(upstream=True),
        within=svc.settings.fulfilment_inline_seconds,
        settle=settle,
        gates=gates,
    )
    await gates.settle(tried.outcome)
    if tried.outcome is None:
        return pending
    return performed(svc.waker, tried.outcome)
