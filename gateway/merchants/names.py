"""The one name a merchant is shown by, to its recipients and in its e-mails."""

from typing import Any

__all__ = ["display_name"]


def display_name(merchant: Any) -> str:
    """The merchant's display name when it has set one, else its name."""
    chosen = getattr(merchant, "display_name", None)
    return str(chosen or merchant.name)
