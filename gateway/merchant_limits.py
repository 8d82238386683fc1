"""Per-merchant rate limits on the calls that cost the gateway most for what they give: a
redemption attempt (a guess at a bearer code), the calls that make the worker send (test
events, replays, recovering failed deliveries), and the calls that make the gateway call a third
party on the merchant's behalf (a fulfilment upstream's connection test, and every call that
reaches the payment provider: a checkout, an invoice, a payment check), and a receipt's PDF,
drawn on the gateway's own CPU. One limit is per dashboard member instead: the consents they
give apps (``count_consent``).

Every call counts, whatever it finds: the count is taken before the work, in one atomic step, so
concurrent calls never get past the limit. Fail closed: with Redis down these calls answer 503
(``SERVICE_UNAVAILABLE``), since letting them through would lift the very bound they exist for,
while every other request goes on. Each limit is defined once, here, and counted in one bucket
whichever door the call comes through (the API or the dashboard).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from .ratelimit import Decision, LimiterUnavailable, hit
from .services import Services
from .values.code_names import Code
from .values.outcome import ApiError
from .values.settings import Settings

__all__ = [
    "FULFILMENT_TEST",
    "PAYMENT_CALLS",
    "RECEIPT_PDFS",
    "REDEEM",
    "SELLER_PAYMENTS",
    "TEST_CLOCK_ADVANCE",
    "WEBHOOK_INBOX",
    "WEBHOOK_RECOVER",
    "WEBHOOK_REPLAY",
    "WEBHOOK_TEST",
    "MerchantLimit",
    "count_consent",
    "within",
]

log = logging.getLogger(__name__)


async def within(svc: Services, bucket: str, limit: int, refused: Code) -> Decision:
    """Count one call in ``bucket`` (a minute's window); ``refused`` (429) past ``limit``.
    The decision's ``headers()`` go on the reply."""
    try:
        within = svc.settings.redis_answer_seconds
        decision = await hit(svc.redis, bucket, limit, 60, closed=True, answer_within=within)
    except LimiterUnavailable as exc:
        log.warning("rate limiter unavailable, refusing %s: %s", bucket.partition(":")[0], exc)
        raise ApiError(
            Code.SERVICE_UNAVAILABLE, "Rate limiter unavailable; retry shortly"
        ) from None
    if not decision.allowed:
        raise ApiError(refused, data=decision.data(), headers=decision.headers())
    return decision


@dataclass(frozen=True, slots=True)
class MerchantLimit:
    """A limit per merchant and minute: its bucket's name, its setting and its refusal."""

    kind: str
    per_minute: Callable[[Settings], int]
    refused: Code

    async def count(self, svc: Services, merchant_id: str, env: str | None = None) -> Decision:
        """Count one call of ``merchant_id``, as ``within`` does; with ``env``, in that
        environment's bucket of its own."""
        bucket = f"{self.kind}:{merchant_id}" if env is None else f"{self.kind}:{merchant_id}:{env}"
        return await within(svc, bucket, self.per_minute(svc.settings), self.refused)


REDEEM = MerchantLimit(
    "redeem", lambda s: s.redeem_attempts_per_minute, Code.REDEMPTION_RATE_LIMITED
)
WEBHOOK_TEST = MerchantLimit(
    "webhook-test", lambda s: s.webhook_tests_per_minute, Code.WEBHOOK_TEST_RATE_LIMITED
)
WEBHOOK_REPLAY = MerchantLimit(
    "webhook-replay", lambda s: s.webhook_replays_per_minute, Code.WEBHOOK_REPLAY_RATE_LIMITED
)
WEBHOOK_RECOVER = MerchantLimit(
    "webhook-recover", lambda s: s.webhook_recovers_per_minute, Code.WEBHOOK_RECOVER_RATE_LIMITED
)
FULFILMENT_TEST = MerchantLimit(
    "fulfilment-test",
    lambda s: s.fulfilment_tests_per_minute,
    Code.FULFILMENT_TEST_RATE_LIMITED,
)
# One bucket for every door that reaches the payment provider, per merchant and environment:
# Stripe limits the operator's whole account, so no merchant may spend it for the others.
# Staging's sandbox never reaches Stripe, yet counts the same, so an integration meets the
# limit in staging first.
PAYMENT_CALLS = MerchantLimit(
    "payment-calls", lambda s: s.payment_calls_per_minute, Code.PAYMENT_CALLS_RATE_LIMITED
)
# Payments to sellers, whichever door, in a bucket of their own: an agent pays far more often
# than a person checks out, and one merchant's agents may not spend the provider for the others.
SELLER_PAYMENTS = MerchantLimit(
    "seller-payments", lambda s: s.seller_payments_per_minute, Code.PAYMENT_CALLS_RATE_LIMITED
)
# A receipt's PDF is drawn on the gateway's CPU (a page of layout, in a thread) each time it is
# asked for: a merchant a minute in each environment, whichever door.
RECEIPT_PDFS = MerchantLimit(
    "receipt-pdfs", lambda s: s.receipt_pdfs_per_minute, Code.RECEIPT_PDFS_RATE_LIMITED
)
# Advances of a merchant's staging test clock, whichever door: each renews every period it passes.
TEST_CLOCK_ADVANCE = MerchantLimit(
    "test-clock", lambda s: s.test_clock_advances_per_minute, Code.TEST_CLOCK_RATE_LIMITED
)
# Requests a staging merchant's test inbox keeps a minute: whoever holds its URL posts there,
# and each one is a write.
WEBHOOK_INBOX = MerchantLimit("webhook-inbox", lambda s: 600, Code.WEBHOOK_INBOX_RATE_LIMITED)


async def count_consent(svc: Services, user_id: str) -> Decision:
    """Count one consent a dashboard member gives an app (each makes a key its tokens act as),
    per member a minute across every merchant of theirs; ``CONSENTS_RATE_LIMITED`` past it."""
    limit = svc.settings.consents_per_member_per_minute
    return await within(svc, f"consents:{user_id}", limit, Code.CONSENTS_RATE_LIMITED)
