"""What a provider raises, and the codes a channel's notifications are refused with."""

from dataclasses import dataclass

from ....values.code_names import Code

__all__ = ["NotSupported", "NoticeCodes", "NoticeMalformed", "NoticeRefused", "ProviderError"]


class ProviderError(Exception):
    """The provider refused, failed or did not answer in time: the caller answers
    ``PAYMENT_PROVIDER_ERROR`` or ``PAYMENT_PROVIDER_TIMEOUT``. ``reason`` is for the log (no
    secret, no body of the provider's); ``status`` and ``code`` the provider's, if it said."""

    def __init__(
        self,
        reason: str,
        *,
        timeout: bool = False,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timeout = timeout
        self.status = status
        self.code = code


class NoticeRefused(Exception):
    """A notification whose signature is missing, wrong or stale: answered without a trace,
    logged once with ``reason`` (never the body or the signature). ``code``: the envelope's,
    where not the provider's ``codes.refused`` (a secret not set, say)."""

    def __init__(self, reason: str, code: Code | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True, slots=True)
class NoticeCodes:
    """The envelope codes a channel's notifications are refused with. ``order_mismatch`` None:
    a notice about another channel's order is not refused but left to the order's transitions,
    which settle nothing and answer ``mismatch`` (Stripe's, as its events always did)."""

    refused: Code = Code.PAYMENT_NOTICE_REFUSED
    malformed: Code = Code.PAYMENT_NOTICE_MALFORMED
    not_configured: Code = Code.PAYMENT_CHANNEL_NOT_CONFIGURED
    not_processed: Code = Code.PAYMENT_NOTICE_NOT_PROCESSED
    order_mismatch: Code | None = Code.PAYMENT_NOTICE_ORDER_MISMATCH


class NoticeMalformed(Exception):
    """A verified notification that is not one the provider documents."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotSupported(Exception):
    """What the provider cannot do (look an order up, refund)."""
