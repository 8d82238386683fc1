"""The send as every door (REST, MCP) runs it: the settings it takes, its deliveries enqueued
after commit, and its count in the metrics. One place, so the doors cannot drift apart."""

from ..callers import Caller
from ..operations import perform
from ..ops import metrics
from ..outcome import Outcome
from ..services import Services
from . import service
from .schemas import SendRequest

__all__ = ["send"]


async def send(
    svc: Services, caller: Caller, body: SendRequest, idempotency_key: str | None
) -> Outcome:
    outcome = await perform(
        svc.enqueuer,
        service.send(
            svc.db,
            svc.sealer,
            caller,
            body,
            idempotency_key=idempotency_key,
            idempotency_ttl_seconds=svc.settings.idempotency_ttl_seconds,
            approval_ttl_seconds=svc.settings.approval_ttl_seconds,
        ),
    )
    if svc.settings.metrics:
        metrics.observe_topup(caller.env, body.platform, None if outcome.replayed else outcome.code)
    return outcome
