"""The staging sandbox's subscription pages: its checkout (Stripe's hosted page in subscription
mode, without the card) and its billing portal (change plan, cancel at period end, resume, and
the card that will be declined at the next renewal). Rendered in the shell every billing page
shares (``pages``), as the sandbox checkout is; every form posts back to the gateway with the
link's token."""

from typing import Any

from ..values.clock import when
from ..values.money import money
from . import pages

__all__ = ["render_checkout", "render_portal"]


def _price(plan: Any, interval: str) -> str:
    cents = plan.price_monthly if interval == "month" else plan.price_yearly
    return f"{money(cents)} a {interval}"


def _form(action: str, label: str, button_id: str, **more: Any) -> dict[str, Any]:
    found = {"hidden": None, "plans": None, "primary": False}
    return {**found, "action": action, "label": label, "id": button_id, **more}


def _page(sub: Any, plan: Any, **values: Any) -> str:
    return pages.render(
        "subscription.html",
        env="staging",
        stand_in=True,
        sub_id=sub.id,
        plan=plan.name,
        price=_price(plan, sub.interval),
        credit=money(plan.credits_included),
        **values,
    )


def render_checkout(sub: Any, plan: Any, base: str, token: str, now: Any) -> str:
    """The sandbox checkout of a subscription: Pay (its first period) or Cancel, while open."""
    status = sub.status
    more = []
    if status == "incomplete" and sub.expires_at is not None:
        if sub.expires_at <= now:
            status = "expired"
        else:
            more.append(("Pay before", None, when(sub.expires_at, now)))
    actions = []
    if status == "incomplete":
        label = f"Subscribe: {_price(plan, sub.interval)}"
        actions = [
            _form(f"{base}/pay?token={token}", label, "pay", primary=True),
            _form(f"{base}/cancel?token={token}", "Cancel", "cancel"),
        ]
    return _page(
        sub,
        plan,
        title=f"Subscribe to {plan.name}",
        heading="Checkout",
        status=status,
        more=more,
        actions=actions,
        change=None,
    )


def render_portal(sub: Any, plan: Any, plans: list[Any], base: str, token: str, now: Any) -> str:
    """The sandbox portal: the subscription, and what a tester can do to it."""
    end = sub.current_period_end
    more = [("Period ends", "period-end", when(end, now))] if end else []
    more += [
        ("Cancel at period end", "cancel-at-end", "yes" if sub.cancel_at_period_end else "no"),
        ("Card at renewal", "card", "declined" if sub.card_fails else "pays"),
    ]
    q = f"?token={token}"
    actions = []
    change = None
    if sub.status in ("active", "past_due"):
        ending = (
            _form(f"{base}/resume{q}", "Resume", "resume")
            if sub.cancel_at_period_end
            else _form(f"{base}/cancel{q}", "Cancel at period end", "cancel")
        )
        card = _form(
            f"{base}/card{q}",
            "Let the card pay" if sub.card_fails else "Make the card fail",
            "card-toggle",
            hidden=("fails", "0" if sub.card_fails else "1"),
        )
        actions = [ending, card]
        if plans:
            options = [{"id": p.id, "name": p.name, "selected": p.id == plan.id} for p in plans]
            change = _form(f"{base}/change{q}", "Change plan", "change", plans=options)
    return _page(
        sub,
        plan,
        title="Sandbox billing portal",
        heading="Your subscription",
        status=sub.status,
        more=more,
        actions=actions,
        change=change,
    )
