"""A top-up's statuses, named once: the lifecycle's states (``topup.lifecycle``), the replies'
``status`` (``topup.schemas``), the dashboard's filter and the store's index of held money."""

from typing import Final, Literal, get_args

__all__ = [
    "CANCELLED",
    "DELIVERED",
    "DENIED",
    "EXPIRED",
    "FAILED",
    "HELD",
    "HOLDING",
    "PENDING",
    "STATUSES",
    "TopupStatus",
]

TopupStatus = Literal[
    "pending", "pending_approval", "delivered", "failed", "cancelled", "denied", "expired"
]
PENDING: Final = "pending"  # staging's ``+pending``, or an upstream still fulfilling
HELD: Final = "pending_approval"  # above a key's approval line, until decided or expired
DELIVERED: Final = "delivered"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
DENIED: Final = "denied"
EXPIRED: Final = "expired"
STATUSES: tuple[TopupStatus, ...] = get_args(TopupStatus)
# Whose amount the merchant's wallet still holds: debited, neither delivered nor refunded.
HOLDING: tuple[TopupStatus, ...] = (PENDING, HELD)
