"""The staging sandbox's subscription pages: its checkout (Stripe's hosted page in subscription
mode, without the card) and its billing portal (change plan, cancel at period end, resume, and
the card that will be declined at the next renewal). Rendered in the shell every billing page
shares (``pages``), as the sandbox checkout is, in the payer's language; every form posts back
to the gateway with the link's token."""

from typing import Any

from ...values.languages import ENGLISH, Reading, money_in
from ...values.marking import marked
from .. import pages

__all__ = ["render_checkout", "render_portal"]

_A_MONTH = marked("%(price)s a month")
_A_YEAR = marked("%(price)s a year")
_SUBSCRIBE = marked("Subscribe: %(price)s")
_SUBSCRIBE_TO = marked("Subscribe to %(plan)s")
_CHECKOUT = marked("Checkout")
_PORTAL = marked("Sandbox billing portal")
_YOURS = marked("Your subscription")
_PAY_BEFORE = marked("Pay before")
_PERIOD_ENDS = marked("Period ends")
_CANCEL_AT_END = marked("Cancel at period end")
_CARD = marked("Card at renewal")
_YES, _NO = marked("yes"), marked("no")
_DECLINED, _PAYS = marked("declined"), marked("pays")
_CANCEL = marked("Cancel")
_RESUME = marked("Resume")
_LET_PAY = marked("Let the card pay")
_MAKE_FAIL = marked("Make the card fail")
_CHANGE = marked("Change plan")


def _price(plan: Any, interval: str, reading: Reading) -> str:
    monthly = interval == "month"
    cents = plan.price_monthly if monthly else plan.price_yearly
    shown = money_in(cents, reading.language)
    return reading.gettext(_A_MONTH if monthly else _A_YEAR) % {"price": shown}


def _form(action: str, label: str, button_id: str, **more: Any) -> dict[str, Any]:
    found = {"hidden": None, "plans": None, "primary": False}
    return {**found, "action": action, "label": label, "id": button_id, **more}


def _page(sub: Any, plan: Any, reading: Reading, **values: Any) -> str:
    return pages.render(
        "subscription.html",
        env="staging",
        reading=reading,
        stand_in=True,
        sub_id=sub.id,
        plan=plan.name,
        price=_price(plan, sub.interval, reading),
        credit=money_in(plan.credits_included, reading.language),
        **values,
    )


def render_checkout(
    sub: Any, plan: Any, base: str, token: str, now: Any, reading: Reading = ENGLISH
) -> str:
    """The sandbox checkout of a subscription: Pay (its first period) or Cancel, while open."""
    _, language = reading.gettext, reading.language
    status = sub.status
    more = []
    if status == "incomplete" and sub.expires_at is not None:
        if sub.expires_at <= now:
            status = "expired"
        else:
            more.append((_(_PAY_BEFORE), None, pages.moment(sub.expires_at, now, reading)))
    actions = []
    if status == "incomplete":
        label = _(_SUBSCRIBE) % {"price": _price(plan, sub.interval, reading)}
        pay = pages.with_language(f"{base}/pay?token={token}", language)
        cancel = pages.with_language(f"{base}/cancel?token={token}", language)
        actions = [_form(pay, label, "pay", primary=True), _form(cancel, _(_CANCEL), "cancel")]
    return _page(
        sub,
        plan,
        reading,
        title=_(_SUBSCRIBE_TO) % {"plan": plan.name},
        heading=_(_CHECKOUT),
        status=status,
        more=more,
        actions=actions,
        change=None,
    )


def render_portal(
    sub: Any,
    plan: Any,
    plans: list[Any],
    base: str,
    token: str,
    now: Any,
    reading: Reading = ENGLISH,
) -> str:
    """The sandbox portal: the subscription, and what a tester can do to it."""
    _ = reading.gettext
    end = sub.current_period_end
    more = [(_(_PERIOD_ENDS), "period-end", pages.moment(end, now, reading))] if end else []
    more += [
        (_(_CANCEL_AT_END), "cancel-at-end", _(_YES if sub.cancel_at_period_end else _NO)),
        (_(_CARD), "card", _(_DECLINED if sub.card_fails else _PAYS)),
    ]
    q = pages.with_language(f"?token={token}", reading.language)
    actions = []
    change = None
    if sub.status in ("active", "past_due"):
        ending = (
            _form(f"{base}/resume{q}", _(_RESUME), "resume")
            if sub.cancel_at_period_end
            else _form(f"{base}/cancel{q}", _(_CANCEL_AT_END), "cancel")
        )
        card = _form(
            f"{base}/card{q}",
            _(_LET_PAY if sub.card_fails else _MAKE_FAIL),
            "card-toggle",
            hidden=("fails", "0" if sub.card_fails else "1"),
        )
        actions = [ending, card]
        if plans:
            options = [{"id": p.id, "name": p.name, "selected": p.id == plan.id} for p in plans]
            change = _form(f"{base}/change{q}", _(_CHANGE), "change", plans=options)
    return _page(
        sub,
        plan,
        reading,
        title=_(_PORTAL),
        heading=_(_YOURS),
        status=sub.status,
        more=more,
        actions=actions,
        change=change,
    )
