"""Money as people read it: one format for the dashboard, e-mails and the recipient's page;
and the other units an amount is shown beside (never instead of): New API's quota.
"""

__all__ = ["NEWAPI_QUOTA_PER_USD", "as_decimal", "money", "quota_of"]

# New API's own default: 500,000 quota units a US dollar (a merchant's upstream may set another).
NEWAPI_QUOTA_PER_USD = 500_000


def money(cents: int | None) -> str:
    """``$1,234.56`` (negative: ``-$1.00``); integer cents in, never a float on the way."""
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def as_decimal(cents: int) -> float:
    """Cents as the decimal currency amount other APIs' shapes answer (``20.0`` for 2000): a
    figure beside the cents, for clients written to those shapes, never one we compute with.
    Every amount of cents below 2**53 is the nearest double to its decimal, so it reads back
    exactly (``round(x * 100)``)."""
    return cents / 100


def quota_of(cents: int, per_usd: int | None = None) -> int:
    """``cents`` as New API's quota at ``per_usd`` a dollar (unset: New API's default), rounded
    down: what a code made for a send of ``cents`` holds, and what a page shows beside it."""
    return cents * (per_usd or NEWAPI_QUOTA_PER_USD) // 100
