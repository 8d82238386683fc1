"""Money as people read it: one format for the dashboard, e-mails and the recipient's page."""

__all__ = ["money"]


def money(cents: int | None) -> str:
    """``$1,234.56`` (negative: ``-$1.00``); integer cents in, never a float on the way."""
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"
