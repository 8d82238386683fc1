"""The staging sandbox's subscription pages: its checkout (Stripe's hosted page in subscription
mode, without the card) and its billing portal (change plan, cancel at period end, resume, and
the card that will be declined at the next renewal). Server-rendered like the sandbox checkout,
in the dashboard's stylesheet; every form posts back to the gateway with the link's token."""

from html import escape
from typing import Any

from ..values.clock import when
from ..values.money import money
from .sandbox import STYLESHEET

__all__ = ["render_checkout", "render_portal"]

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · aiTopUp</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{stylesheet}">
</head>
<body data-env="staging">
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <span class="brand">aiTopUp</span>
  <span class="status">staging</span>
</header>
<p class="banner sandbox-banner" id="sandbox-note">
  Staging sandbox: no card is charged and no real credits move.
</p>
<main id="main" tabindex="-1" class="narrow">
<h1>{title}</h1>
<section class="card" aria-labelledby="sub-h">
  <h2 id="sub-h">{heading}</h2>
  <dl class="facts">
    <dt>Subscription</dt><dd><code>{sub_id}</code></dd>
    <dt>Plan</dt><dd id="plan">{plan}</dd>
    <dt>Price</dt><dd id="price">{price}</dd>
    <dt>Credit each period</dt><dd id="credit">{credit}</dd>
    <dt>Status</dt><dd><span class="status status-{status}" id="status">{status}</span></dd>
    {more}
  </dl>
  {actions}
</section>
{extra}
</main>
</body>
</html>
"""


def _price(plan: Any, interval: str) -> str:
    cents = plan.price_monthly if interval == "month" else plan.price_yearly
    return f"{money(cents)} a {interval}"


def _form(action: str, label: str, button_id: str, fields: str = "", primary: bool = False) -> str:
    css = ' class="primary"' if primary else ""
    return (
        f'<form method="post" action="{escape(action)}">{fields}'
        f'<button type="submit"{css} id="{button_id}">{escape(label)}</button></form>'
    )


def render_checkout(sub: Any, plan: Any, base: str, token: str, now: Any) -> str:
    """The sandbox checkout of a subscription: Pay (its first period) or Cancel, while open."""
    status = sub.status
    more = ""
    if status == "incomplete" and sub.expires_at is not None:
        if sub.expires_at <= now:
            status = "expired"
        else:
            more = f"<dt>Pay before</dt><dd>{escape(when(sub.expires_at, now))}</dd>"
    actions = ""
    if status == "incomplete":
        actions = '<div class="actions">' + _form(
            f"{base}/pay?token={token}", f"Subscribe: {_price(plan, sub.interval)}", "pay",
            primary=True,
        ) + _form(f"{base}/cancel?token={token}", "Cancel", "cancel") + "</div>"  # fmt: skip
    return _PAGE.format(
        stylesheet=STYLESHEET,
        title=escape(f"Subscribe to {plan.name}"),
        heading="Checkout",
        sub_id=escape(sub.id),
        plan=escape(plan.name),
        price=escape(_price(plan, sub.interval)),
        credit=escape(money(plan.credits_included)),
        status=escape(status),
        more=more,
        actions=actions,
        extra="",
    )


def render_portal(sub: Any, plan: Any, plans: list[Any], base: str, token: str, now: Any) -> str:
    """The sandbox portal: the subscription, and what a tester can do to it."""
    end = sub.current_period_end
    more = f'<dt>Period ends</dt><dd id="period-end">{escape(when(end, now))}</dd>' if end else ""
    more += (
        f'<dt>Cancel at period end</dt><dd id="cancel-at-end">'
        f"{'yes' if sub.cancel_at_period_end else 'no'}</dd>"
        f'<dt>Card at renewal</dt><dd id="card">{"declined" if sub.card_fails else "pays"}</dd>'
    )
    q = f"?token={token}"
    actions = ""
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
            f'<input type="hidden" name="fails" value="{"0" if sub.card_fails else "1"}">',
        )
        actions = f'<div class="actions">{ending}{card}</div>'
    options = "".join(
        f'<option value="{escape(p.id)}"{" selected" if p.id == plan.id else ""}>'
        f"{escape(p.name)}</option>"
        for p in plans
    )
    extra = ""
    if sub.status in ("active", "past_due") and plans:
        change = _form(
            f"{base}/change{q}",
            "Change plan",
            "change",
            f'<label>Plan <select name="plan_id">{options}</select></label>'
            '<label>Interval <select name="interval"><option value="month">month</option>'
            '<option value="year">year</option></select></label>',
        )
        extra = f'<section class="card" aria-label="Change plan">{change}</section>'
    return _PAGE.format(
        stylesheet=STYLESHEET,
        title="Sandbox billing portal",
        heading="Your subscription",
        sub_id=escape(sub.id),
        plan=escape(plan.name),
        price=escape(_price(plan, sub.interval)),
        credit=escape(money(plan.credits_included)),
        status=escape(sub.status),
        more=more,
        actions=actions,
        extra=extra,
    )
