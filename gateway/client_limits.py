"""Limits per client address on the doors anyone may knock at without a credential.

Each door that answers an anonymous request with work (a look-up in the store, a fetch of a
document it names, a write) counts that request per client address (``lockout.client_address``:
an IPv4 address, an IPv6 /64) before the work, in one atomic step in Redis, so concurrent
requests never pass the limit. Each limit is defined once here and counted in one bucket for
every route of its door.

A limit says what it does when Redis cannot count: ``closed`` refuses (the work it bounds is
done for whoever asks, at someone else's cost: a fetch from the gateway's addresses, a row);
``open`` admits and logs, where refusing would cost an honest far side more than the flood
(a payment provider's notice is verified before anything is written, and a lost one is a
payer's credit late). ``docs/security.md`` lists each with its reason.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from .lockout import client_address
from .ratelimit import UNAVAILABLE_RETRY_AFTER, Decision, LimiterUnavailable, hit, unavailable
from .services import Services
from .values.code_names import Code
from .values.outcome import ApiError
from .values.settings import Settings

__all__ = [
    "OAUTH",
    "OAUTH_REGISTRATIONS",
    "PAYMENT_NOTICES",
    "POLLER_READS",
    "RECIPIENT_PAGES",
    "ClientLimit",
    "Refused",
]

log = logging.getLogger(__name__)


class Refused(Exception):
    """The client is past its limit (``decision``), or Redis could not count it for a limit
    that fails closed (``decision`` is ``None``)."""

    def __init__(self, decision: Decision | None) -> None:
        super().__init__("over the limit" if decision is not None else "limiter unavailable")
        self.decision = decision

    def headers(self) -> dict[str, str]:
        if self.decision is None:
            return {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)}
        return self.decision.headers()


@dataclass(frozen=True, slots=True)
class ClientLimit:
    """A limit per client address and window: its bucket's name, its setting, its failure."""

    kind: str
    per_window: Callable[[Settings], int]
    window_seconds: int
    fail_open: bool

    async def count(self, svc: Services, conn: HTTPConnection) -> Decision | None:
        """Count one request of ``conn``'s client: its decision, or ``None`` when Redis could
        not count it and the limit fails open. ``Refused`` past the limit, or when Redis could
        not count it and the limit fails closed."""
        bucket = f"client:{self.kind}:{client_address(conn)}"
        try:
            decision = await hit(
                svc.redis,
                bucket,
                self.per_window(svc.settings),
                self.window_seconds,
                closed=not self.fail_open,
                answer_within=svc.settings.redis_answer_seconds,
            )
        except LimiterUnavailable as exc:
            if self.fail_open:
                log.warning("rate limiter unavailable, admitting %s: %s", self.kind, exc)
                return None
            log.warning("rate limiter unavailable, refusing %s: %s", self.kind, exc)
            raise Refused(None) from None
        if not decision.allowed:
            raise Refused(decision)
        return decision

    async def enforce(self, svc: Services, conn: HTTPConnection, code: Code) -> None:
        """``count``, for a door that answers in the envelope: ``code`` (429) past the limit,
        503 (``SERVICE_UNAVAILABLE``) when it cannot be counted and fails closed."""
        try:
            await self.count(svc, conn)
        except Refused as refused:
            if refused.decision is None:
                raise unavailable() from None
            decision = refused.decision
            raise ApiError(code, data=decision.data(), headers=decision.headers()) from None


# /oauth/authorize, /oauth/token and /oauth/revoke, one bucket: each may make the gateway read a
# client's metadata document, and each looks up the store for whoever asks.
OAUTH = ClientLimit("oauth", lambda s: s.oauth_requests_per_client_per_minute, 60, fail_open=False)
# /oauth/register (RFC 7591): each registration makes a row, as a sign-up does.
OAUTH_REGISTRATIONS = ClientLimit(
    "oauth-register", lambda s: s.oauth_registrations_per_client_per_hour, 3600, fail_open=False
)
# A payment channel's notifications, Stripe's events among them: generous, for a provider
# that sends many from few addresses.
PAYMENT_NOTICES = ClientLimit(
    "payment-notices", lambda s: s.payment_notices_per_client_per_minute, 60, fail_open=True
)
# A recipient's page and its live stream, views from one address: each reads the store, and a
# view may look codes up at the merchant's upstream (cached). Open: a view writes nothing, and
# a recipient must reach their code when Redis does not answer.
RECIPIENT_PAGES = ClientLimit(
    "recipient-pages", lambda s: s.recipient_pages_per_client_per_minute, 60, fail_open=True
)
# A poller's reads with its own key: each looks the poller up by id and compares the key's hash.
# Closed: a read writes nothing and is asked again, so a refusal loses nothing.
POLLER_READS = ClientLimit(
    "poller-reads", lambda s: s.poller_reads_per_client_per_minute, 60, fail_open=False
)
