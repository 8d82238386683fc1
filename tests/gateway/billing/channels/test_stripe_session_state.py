"""What a looked-up Checkout Session and its PaymentIntent mean for an order, as stripe objects
(the package's own type) carry them; and the worker runs the sweep that asks."""

from typing import Any

import pytest
import stripe

from gateway.billing.channels.providers.stripe_orders import session_state
from gateway.values.settings import Settings
from worker.service import worker_settings


def _obj(**values: Any) -> stripe.StripeObject:
    return stripe.StripeObject.construct_from(values, "sk_test_x")


@pytest.mark.parametrize(
    ("session", "intent", "state"),
    [
        ({"status": "open", "payment_status": "unpaid"}, None, "open"),
        ({"status": "expired", "payment_status": "unpaid"}, None, "expired"),
        ({"status": "complete", "payment_status": "paid"}, {"status": "succeeded"}, "paid"),
        ({"status": "complete", "payment_status": "no_payment_required"}, None, "paid"),
        # Paid says the session, yet the intent has not succeeded: not money yet.
        ({"status": "complete", "payment_status": "paid"}, {"status": "processing"}, "unpaid"),
        ({"status": "complete", "payment_status": "unpaid"}, {"status": "processing"}, "unpaid"),
        (
            {"status": "complete", "payment_status": "unpaid"},
            {"status": "requires_payment_method"},
            "failed",
        ),
        ({"status": "complete", "payment_status": "unpaid"}, {"status": "canceled"}, "failed"),
        ({}, None, "open"),
    ],
)
def test_a_session_and_its_intent_as_one_state(
    session: dict[str, Any], intent: dict[str, Any] | None, state: str
) -> None:
    assert session_state(_obj(**session), None if intent is None else _obj(**intent)) == state


def test_the_worker_runs_the_reconciliation_sweep(settings: Settings) -> None:
    jobs = {job.name: job for job in worker_settings(settings)["cron_jobs"]}
    sweep = jobs["reconcile_orders"]
    assert sweep.minute == set(range(0, 60, 5))  # every 300 s by default
