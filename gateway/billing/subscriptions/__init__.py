"""Subscriptions: a merchant's plan, paid each period, each paid period credited exactly once.

Opened (``opening``: the payment session, one place per merchant and environment), credited and
moved by what the provider reports (``periods``), shown (``reading``) and managed at the
channel's portal (``portal``). Renewals and reports of every channel go through one module
(``renewals``). What a door or another module uses is named here, so it imports
``billing.subscriptions`` whichever module of the package holds it.
"""

from .opening import create_session
from .periods import (
    CREDIT_KIND,
    FINAL,
    HOLDING,
    FailedPeriod,
    PaidPeriod,
    credit_period,
    move_state,
    record_failure,
)
from .portal import open_portal
from .reading import current, get_subscription, subscription_data

__all__ = [
    "CREDIT_KIND",
    "FINAL",
    "HOLDING",
    "FailedPeriod",
    "PaidPeriod",
    "create_session",
    "credit_period",
    "current",
    "get_subscription",
    "move_state",
    "open_portal",
    "record_failure",
    "subscription_data",
]
