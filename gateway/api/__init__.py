"""HTTP routes, one module a domain. Each parses, calls its service, and wraps the reply."""

from starlette.routing import BaseRoute

from ..auth import require_caller
from ..protocols import registry as protocols
from ..protocols.base import Door
from . import (
    apps,
    auto_top_up,
    billing,
    billing_profile,
    budgets,
    checkin,
    emails,
    exports,
    freeze,
    fulfilment,
    keys,
    meta,
    orders,
    payee_bindings,
    payer_keys,
    payment_channels,
    payment_funding,
    payments,
    policy_templates,
    recipients,
    subscription_invoices,
    subscriptions,
    telegram,
    topup,
    wallet_alerts,
    webhook_inbox,
    webhook_pollers,
    webhooks,
)
from .answer import answer

__all__ = ["public_routes"]

PREFIX = "/api/public/v1"


def public_routes() -> list[BaseRoute]:
    # The send first: it is the hot path, and Starlette tries routes in order (each one tried
    # costs a match). Then billing before the other top-up routes: /topup/{txn_id} would
    # otherwise capture /topup/packs.
    return [
        *topup.send_routes,
        *meta.routes,
        *billing.routes,
        # The payment protocols' own (staging's test tokens), on this door's steps.
        *protocols.routes(Door(caller=require_caller, answer=answer)),
        *billing_profile.routes,
        *subscriptions.routes,
        *subscription_invoices.routes,
        # After Stripe's literal /payment/webhook/stripe, which it would otherwise capture.
        *payment_channels.routes,
        *telegram.routes,
        *topup.routes,
        *webhook_pollers.routes,
        *webhooks.routes,
        *webhook_inbox.routes,
        *keys.routes,
        *budgets.routes,
        *apps.routes,
        # Before the payments': /payments/{payment_id} would capture /payments/payer-keys.
        *payer_keys.routes,
        *payee_bindings.routes,
        *payment_funding.routes,
        *payments.routes,
        *fulfilment.routes,
        *emails.routes,
        *recipients.routes,
        *orders.routes,
        *exports.routes,
        *checkin.routes,
        *policy_templates.routes,
        *auto_top_up.routes,
        *wallet_alerts.routes,
        *freeze.routes,
    ]
