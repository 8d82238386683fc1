"""A provider's settings as one try or test calls it (``config.load`` makes them)."""

from dataclasses import dataclass

__all__ = ["Upstream"]


@dataclass(frozen=True, slots=True)
class Upstream:
    """A provider's settings, credential opened: held in memory for one call, never logged."""

    provider: str
    base_url: str
    account: str | None
    secret: str
    quota_per_usd: int | None
    merchant_id: str  # whose share of the outbound pool its calls hold
    # The allowance of the keys it makes for recipients (OpenRouter's), when the merchant set one.
    limit_reset: str | None = None
    key_expires_after_days: int | None = None

    def __repr__(self) -> str:  # the credential stays out of every log line and traceback
        return f"Upstream({self.provider!r}, {self.base_url!r})"
