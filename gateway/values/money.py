"""Money as people read it: one format for the dashboard, e-mails and the recipient's page."""

__all__ = ["as_decimal", "money"]


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
