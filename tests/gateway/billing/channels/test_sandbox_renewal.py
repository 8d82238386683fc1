"""The sandbox provider's renewal (``SandboxProvider.renewal``): the report each period that ended
makes, as a provider's notification would, for ``subscriptions.renewals`` to apply."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from gateway.billing.channels.providers.sandbox import SandboxProvider, add_interval
from gateway.billing.channels.registry import Renewing

NOW = datetime(2026, 3, 31, 12, tzinfo=UTC)
DUE = datetime(2026, 1, 31, 9, tzinfo=UTC)
SUB = Renewing(
    subscription_id="sub_1",
    status="active",
    interval="month",
    current_period_end=DUE,
    periods_paid=2,
    cancel_at_period_end=False,
    card_fails=False,
    price_monthly=900,
    price_yearly=9000,
)


def test_nothing_is_due_before_the_period_ends_or_once_it_ended() -> None:
    sandbox = SandboxProvider()
    assert sandbox.renews_here
    assert sandbox.renewal(SUB, DUE - timedelta(seconds=1)) is None
    assert sandbox.renewal(replace(SUB, current_period_end=None), NOW) is None
    for status in ("incomplete", "canceled", "expired"):
        assert sandbox.renewal(replace(SUB, status=status), NOW) is None


def test_a_period_that_ended_is_paid_under_its_number_at_the_interval_s_price() -> None:
    notice = SandboxProvider().renewal(SUB, NOW)
    assert notice is not None and notice.subscription is not None
    assert (notice.state, notice.amount_minor, notice.currency) == ("paid", 900, "usd")
    assert notice.created == NOW
    period = notice.subscription
    assert (period.state, period.subscription_id, period.invoice_id) == (
        "paid",
        "sub_1",
        "sbx_sub_1_3",
    )
    assert period.period_end == add_interval(DUE, "month") == datetime(2026, 2, 28, 9, tzinfo=UTC)
    yearly = SandboxProvider().renewal(replace(SUB, interval="year"), NOW)
    assert yearly is not None and yearly.amount_minor == 9000


def test_a_failing_card_makes_the_period_past_due_and_a_cancel_ends_it() -> None:
    failed = SandboxProvider().renewal(replace(SUB, card_fails=True), NOW)
    assert failed is not None and failed.subscription is not None
    period = failed.subscription
    assert (period.state, period.invoice_id, period.period_start) == (
        "past_due",
        "sbx_sub_1_3",
        DUE,
    )
    assert period.period_end == add_interval(DUE, "month")
    ended = SandboxProvider().renewal(replace(SUB, cancel_at_period_end=True, card_fails=True), NOW)
    assert ended is not None and ended.subscription is not None
    assert ended.subscription.state == "canceled" and ended.amount_minor is None
