"""The key policy form: its fields to a ``Policy`` (validated by the model itself, the one
definition of what a policy may be) and a ``Policy`` back to the form's fields.

Amounts are typed in dollars and cents (``12.50``) and become integer cents exactly, never
through a float. Errors come back per form field, with what was typed kept.
"""

import json
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from ..policies.model import (
    CALENDAR,
    DEFAULT_SCOPES,
    MAX_BUDGETS,
    SCOPES,
    Limit,
    Policy,
)
from ..values.marking import marked
from ..values.platforms import PLATFORMS
from .inputs import listed

__all__ = [
    "ENTER_PERCENTS",
    "FIELDS",
    "INTERVAL_WORDS",
    "KEY_SCOPE_WORDS",
    "ROLLING_WORDS",
    "PolicyFormError",
    "dollars",
    "echo",
    "from_form",
    "parse_cents",
    "rolling_limit",
    "rolling_values",
    "to_form",
]

# Said where a list of alert levels cannot be read (a key's, a budget's).
ENTER_PERCENTS = marked("Enter whole percents, such as 50, 80, 95.")
_MONEY = re.compile(r"\$?\s*(\d{1,10})(?:\.(\d{1,2}))?")
_MAX_RECIPIENTS_TEXT = 30_000

# Form field → its label on the page: the form shows these, and the error list and each
# field's own error name a field by them. Every field of ``Policy`` comes back as one of these
# (``_FORM_FIELD`` maps the rest).
FIELDS = {
    "name": marked("Name"),
    "scopes": marked("Scopes"),
    "max_per_send": marked("Most per send"),
    "limit_daily": marked("Daily limit"),
    "limit_weekly": marked("Weekly limit"),
    "limit_monthly": marked("Monthly limit"),
    "limit_all_time": marked("All time limit"),
    "limit_rolling": marked("Rolling limit"),
    "limit_rolling_hours": marked("Rolling window, hours"),
    "limits": marked("Spend"),
    "per_recipient_limit": marked("Per recipient"),
    "per_recipient_interval": marked("Per recipient, each"),
    "soft_limit_percent": marked("Budget alert at"),
    "thresholds_percent": marked("Alert levels"),
    "rate_limit_per_minute": marked("Requests a minute"),
    "allowed_platforms": marked("Platforms"),
    "allowed_recipients": marked("Recipients"),
    "allowed_payees": marked("Sellers it may pay"),
    "per_payee_limit": marked("Per seller"),
    "per_payee_interval": marked("Per seller, each"),
    "approval_above": marked("Hold for approval above"),
    "expires_at": marked("Expires"),
    "approval_for_new_recipients": marked(
        "Hold for approval a send to a recipient this key never paid"
    ),
    "reveal_voucher": marked("Reveal the code in the reply"),
    "template": marked("Policy template"),
    "budgets": marked("Budgets it draws on"),
}
# Each interval as the form and the usage tables name it, translated where shown.
INTERVAL_WORDS = {
    "daily": marked("daily"),
    "weekly": marked("weekly"),
    "monthly": marked("monthly"),
    "all_time": marked("all time"),
    "rolling": marked("rolling"),
}
# A rolling window as the usage tables and lists name it (``render``'s ``window`` filter).
ROLLING_WORDS = marked("over the last %(hours)s h")
_ROLLING_HOURS = marked("Enter the rolling window's length in hours.")
_ROLLING_AMOUNT = marked("Enter the rolling limit's amount, or leave its hours blank.")
# What a scope does, beside its box on the key form, where its name alone does not say it.
KEY_SCOPE_WORDS = {
    "billing:card": marked(
        "charge the merchant's saved card: auto top-up settings, saved payment methods, a "
        "checkout paid with the saved card; never given to an app"
    ),
}
# Policy field → form field.
_FORM_FIELD = {
    "max_per_send_cents": "max_per_send",
    "approval_above_cents": "approval_above",
}


class PolicyFormError(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def _cents(text: str, field: str, errors: dict[str, str]) -> int | None:
    text = text.strip().replace(",", "")
    if not text:
        return None
    found = _MONEY.fullmatch(text)
    if found is None:
        errors[field] = marked("Enter an amount in dollars, such as 25 or 12.50.")
        return None
    return int(found.group(1)) * 100 + int((found.group(2) or "0").ljust(2, "0"))


# Every money field of the dashboard's forms reads and shows amounts the same way.
parse_cents = _cents


def _whole(text: str, field: str, errors: dict[str, str]) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        errors[field] = marked("Enter a whole number.")
        return None
    return int(text)


def _str(data: FormData, name: str, limit: int = 300) -> str:
    value = data.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _many(data: FormData, name: str, allowed: tuple[str, ...]) -> list[str]:
    return [v for v in data.getlist(name) if isinstance(v, str) and v in allowed]


def _ids(data: FormData, name: str) -> list[str]:
    """The ids ticked, as many as a policy may hold and one more (so the model refuses the
    rest), each as short as an id."""
    return [v[:40] for v in data.getlist(name) if isinstance(v, str)][: MAX_BUDGETS + 1]


def from_form(data: FormData) -> tuple[str | None, Policy]:
    """The key's name and policy from the form, or ``PolicyFormError`` by field."""
    errors: dict[str, str] = {}
    policy: dict[str, Any] = {"scopes": _many(data, "scopes", SCOPES)}
    if (cents := _cents(_str(data, "max_per_send"), "max_per_send", errors)) is not None:
        policy["max_per_send_cents"] = cents
    limits = []
    for interval in CALENDAR:
        field = f"limit_{interval}"
        if (cents := _cents(_str(data, field), field, errors)) is not None:
            limits.append({"amount_cents": cents, "interval": interval})
    if (rolling := rolling_limit(data, errors)) is not None:
        limits.append(rolling)
    policy["limits"] = limits
    per = _cents(_str(data, "per_recipient_amount"), "per_recipient_limit", errors)
    if per is not None:
        every = _str(data, "per_recipient_interval")
        policy["per_recipient_limit"] = {"amount_cents": per, "interval": every}
    per = _cents(_str(data, "per_payee_amount"), "per_payee_limit", errors)
    if per is not None:
        every = _str(data, "per_payee_interval")
        policy["per_payee_limit"] = {"amount_cents": per, "interval": every}
    platforms = _many(data, "allowed_platforms", PLATFORMS)
    policy["allowed_platforms"] = platforms or None
    recipients = [
        line.strip()
        for line in _str(data, "allowed_recipients", _MAX_RECIPIENTS_TEXT).splitlines()
        if line.strip()
    ]
    policy["allowed_recipients"] = recipients or None
    payees = [
        line.strip()
        for line in _str(data, "allowed_payees", _MAX_RECIPIENTS_TEXT).splitlines()
        if line.strip()
    ]
    policy["allowed_payees"] = payees or None
    if (cents := _cents(_str(data, "approval_above"), "approval_above", errors)) is not None:
        policy["approval_above_cents"] = cents
    policy["approval_for_new_recipients"] = _str(data, "approval_for_new_recipients") == "on"
    policy["reveal_voucher"] = _str(data, "reveal_voucher") == "on"
    policy["budgets"] = _ids(data, "budgets")
    expires = _str(data, "expires_at").strip()
    if expires:
        try:
            moment = datetime.fromisoformat(expires)
        except ValueError:
            errors["expires_at"] = marked("Enter a date and time, such as 2027-01-31 18:00.")
        else:
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            policy["expires_at"] = moment.isoformat()
    for field in ("rate_limit_per_minute", "soft_limit_percent"):
        if (number := _whole(_str(data, field), field, errors)) is not None:
            policy[field] = number
    levels = listed(_str(data, "thresholds_percent"))
    if levels and not all(level.isdigit() and len(level) < 4 for level in levels):
        errors["thresholds_percent"] = ENTER_PERCENTS
    elif levels:
        policy["thresholds_percent"] = [int(level) for level in levels]
    template = _str(data, "template", 40).strip()
    if template:
        policy["template"] = template
    name = _str(data, "name", 200).strip() or None
    if name is not None and len(name) > 100:
        errors["name"] = marked("Use at most 100 characters.")
    if not errors:
        try:
            return name, Policy.model_validate_json(json.dumps(policy))
        except ValidationError as exc:
            for error in exc.errors():
                where = str(error["loc"][0]) if error["loc"] else "scopes"
                if where == "limits" and _of_rolling(limits, error["loc"]):
                    where = "limit_rolling_hours"  # the amount's own errors are the form's
                field = _FORM_FIELD.get(where, where)
                field = field if field in FIELDS else ""
                errors.setdefault(field, error["msg"])
    raise PolicyFormError(errors)


def rolling_limit(data: FormData, errors: dict[str, str]) -> dict[str, Any] | None:
    """The rolling limit the form's two fields give (its amount, its hours), as the model
    takes it; None when both are blank. Each field left blank beside the other is an error."""
    cents = _cents(_str(data, "limit_rolling"), "limit_rolling", errors)
    hours = _whole(_str(data, "limit_rolling_hours"), "limit_rolling_hours", errors)
    if cents is None and hours is None:
        return None
    if cents is None:
        errors.setdefault("limit_rolling", _ROLLING_AMOUNT)
    if hours is None:
        errors.setdefault("limit_rolling_hours", _ROLLING_HOURS)
    return {"amount_cents": cents, "interval": "rolling", "hours": hours}


def _of_rolling(limits: list[dict[str, Any]], loc: tuple[int | str, ...]) -> bool:
    """Whether a model error at ``loc`` (under ``limits``) is of the rolling limit."""
    at = loc[1] if len(loc) > 1 else None
    return isinstance(at, int) and at < len(limits) and limits[at]["interval"] == "rolling"


def rolling_values(limits: tuple[Limit, ...]) -> dict[str, str]:
    """The rolling limit's two fields, as the form shows them (blank: none)."""
    found = next((limit for limit in limits if limit.hours is not None), None)
    return {
        "limit_rolling": _dollars(None if found is None else found.amount_cents),
        "limit_rolling_hours": "" if found is None else str(found.hours),
    }


def _dollars(cents: int | None) -> str:
    if cents is None:
        return ""
    whole, part = divmod(cents, 100)
    return f"{whole}.{part:02d}" if part else str(whole)


dollars = _dollars


def to_form(policy: Policy | None, name: str | None = None) -> dict[str, Any]:
    """The form's values for ``policy`` (``None``: a new key's defaults)."""
    if policy is None:
        return {"name": name or "", "scopes": list(DEFAULT_SCOPES)}
    by_interval = {limit.interval: limit.amount_cents for limit in policy.limits}
    per, paid = policy.per_recipient_limit, policy.per_payee_limit
    return {
        "name": name or "",
        "scopes": list(policy.scopes),
        "max_per_send": _dollars(policy.max_per_send_cents),
        **{f"limit_{i}": _dollars(by_interval.get(i)) for i in CALENDAR},
        **rolling_values(policy.limits),
        "per_recipient_amount": _dollars(per.amount_cents) if per else "",
        "per_recipient_interval": per.interval if per else "daily",
        "allowed_platforms": list(policy.allowed_platforms or ()),
        "allowed_recipients": "\n".join(policy.allowed_recipients or ()),
        "per_payee_amount": _dollars(paid.amount_cents) if paid else "",
        "per_payee_interval": paid.interval if paid else "daily",
        "allowed_payees": "\n".join(policy.allowed_payees or ()),
        "approval_above": _dollars(policy.approval_above_cents),
        "approval_for_new_recipients": policy.approval_for_new_recipients,
        "expires_at": policy.expires_at.strftime("%Y-%m-%dT%H:%M") if policy.expires_at else "",
        "rate_limit_per_minute": policy.rate_limit_per_minute or "",
        "soft_limit_percent": policy.soft_limit_percent or "",
        "thresholds_percent": ", ".join(str(p) for p in policy.thresholds_percent or ()),
        "reveal_voucher": policy.reveal_voucher,
        "template": policy.template or "",
        "budgets": list(policy.budgets),
    }


def echo(data: FormData) -> dict[str, Any]:
    """What was typed, to show again beside the errors."""
    values: dict[str, Any] = {
        k: _str(data, k, _MAX_RECIPIENTS_TEXT) for k in data if k != "csrf_token"
    }
    values["scopes"] = _many(data, "scopes", SCOPES)
    values["allowed_platforms"] = _many(data, "allowed_platforms", PLATFORMS)
    values["approval_for_new_recipients"] = _str(data, "approval_for_new_recipients") == "on"
    values["reveal_voucher"] = _str(data, "reveal_voucher") == "on"
    values["budgets"] = _ids(data, "budgets")
    return values
