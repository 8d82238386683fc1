"""A key's policy: what it may do (scopes), where it may send, and how much.

One model is the wire shape (create, PATCH, ``/keys/self``), the stored shape (``api_keys.policy``
as JSON) and the input of every check. A key made before policies existed has no stored policy
and gets ``UNRESTRICTED``: every scope, no limit and the code revealed, the powers it always
had; a key made without a policy (the CLI's, ``make run``'s, the operator's) is stored with
``UNRESTRICTED`` as it is, so it reads back with the same powers.
"""

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..values.addresses import canonical
from ..values.model import Model
from ..values.platforms import Platform
from ..values.timestamps import in_range
from . import payees

__all__ = [
    "BUDGET_ID",
    "CALENDAR",
    "CONSENT_ONLY",
    "DEFAULT_SCOPES",
    "INTERVALS",
    "KEY_ONLY",
    "KEY_SCOPES",
    "MAX_BUDGETS",
    "MAX_ROLLING_HOURS",
    "MAX_THRESHOLDS",
    "SCOPES",
    "UNRESTRICTED",
    "BudgetLimits",
    "Interval",
    "Limit",
    "Policy",
    "Scope",
    "contains",
    "distinct_levels",
    "holds",
    "load",
]

MAX_THRESHOLDS = 5  # levels a key's or a budget's alerts may have

Scope = Literal[
    "topup:send",
    "topup:read",
    "webhooks",
    "billing",
    "keys",
    "approvals",
    "fulfilment",
    "keys:manage",
    "billing:card",
    "payments:send",
]
SCOPES: tuple[Scope, ...] = (
    "topup:send",
    "topup:read",
    "webhooks",
    "billing",
    "keys",
    "approvals",
    "fulfilment",
    "keys:manage",  # an app's token: one key of its own, within its consent (``apps.managed``)
    "billing:card",  # charge the merchant's saved card: the merchant's own key alone
    # Pay a seller's 402 from the wallet (``sellers``): never a default, never ticked
    # for an app, never given to an app nobody vouches for (``apps.grants``).
    "payments:send",
)
# Scopes a consent to an app holds and a key never does: ``keys:manage`` makes a key through the
# consent it is given by (``apps.managed``), and a key has no consent to make one through.
CONSENT_ONLY: frozenset[Scope] = frozenset({"keys:manage"})
# Scopes a key holds and a consent never does: ``billing:card`` charges the merchant's saved
# card (auto top-up, the saved payment method), which only the merchant itself may set up, by
# a person on the dashboard or a key of its own (``callers.require_card``); no app is offered
# it, asks for it or holds it, nor does the key an app manages.
KEY_ONLY: frozenset[Scope] = frozenset({"billing:card"})
# What a key may hold: every scope but those; a key made before policies holds all of these.
KEY_SCOPES: tuple[Scope, ...] = tuple(s for s in SCOPES if s not in CONSENT_ONLY)
# What a key made without a word about scopes may do: send and read, nothing else.
DEFAULT_SCOPES: tuple[Scope, ...] = ("topup:send", "topup:read")

Interval = Literal["daily", "weekly", "monthly", "all_time", "rolling"]
# Windows the calendar names (UTC): every send in one counts in one row.
CALENDAR: tuple[Interval, ...] = ("daily", "weekly", "monthly", "all_time")
# A rolling window: the last ``hours`` hours, counted to the minute (``policies.rolling``).
INTERVALS: tuple[Interval, ...] = (*CALENDAR, "rolling")
MAX_ROLLING_HOURS = 168  # a week: the longest rolling window, and how long its counts are read

_MAX_CENTS = 10**12  # ten billion dollars: any real limit fits, and sums stay in BIGINT
_MAX_RECIPIENT_RULES = 100
_MAX_PAYEE_RULES = 100
MAX_BUDGETS = 10  # budgets one policy draws on: each is a read and windows on every payment
BUDGET_ID = r"^bgt_[0-9a-z]{24}$"
_STORED = "stored"  # validation context: a policy read back from ``api_keys.policy``
Cents = Annotated[int, Field(ge=1, le=_MAX_CENTS)]


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Limit(_Strict):
    amount_cents: Cents
    interval: Interval = Field(
        description="daily (from 00:00 UTC), weekly (from Monday 00:00 UTC), monthly (from the "
        "1st, 00:00 UTC), all_time, or rolling: the last `hours` hours, to the minute"
    )
    hours: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ROLLING_HOURS,
        # Left out of a calendar limit, so its wire and stored shape are what they always were.
        exclude_if=lambda hours: hours is None,
        description=f"A rolling limit's window, 1 to {MAX_ROLLING_HOURS} hours (5: the spend "
        "of the last five hours); only with `rolling`, which needs it.",
    )

    @model_validator(mode="after")
    def _hours_with_rolling(self) -> "Limit":
        if self.interval == "rolling" and self.hours is None:
            raise ValueError(f"a rolling limit needs hours, 1 to {MAX_ROLLING_HOURS}")
        if self.interval != "rolling" and self.hours is not None:
            raise ValueError(f"hours belong to a rolling limit; a {self.interval} limit has none")
        return self


def _calendar_only(limit: Limit | None) -> Limit | None:
    """A limit kept per recipient, payee or platform is a calendar one: a rolling window is
    counted for a key, a consent or a budget as a whole (``policies.rolling``)."""
    if limit is not None and limit.interval == "rolling":
        raise ValueError(
            "a per-recipient, per-payee or per-platform limit is daily, weekly, monthly or "
            "all_time; rolling is for `limits`"
        )
    return limit


def _recipient_rule(value: str) -> str:
    """An exact address (canonical, as sends are) or ``@domain`` (lower-cased)."""
    if value.startswith("@"):
        domain = value[1:].lower()
        if not domain or "@" in domain or len(domain) > 253 or "." not in domain:
            raise ValueError(f"{value!r} is not an address or @domain")
        return "@" + domain
    return canonical(value)


class Policy(_Strict):
    scopes: tuple[Scope, ...] = Field(
        default=DEFAULT_SCOPES,
        description="What the key may do; a key without `keys` cannot make keys, and without "
        "`approvals` cannot approve a send.",
    )
    max_per_send_cents: Cents | None = Field(default=None, description="The most one send may be.")
    limits: tuple[Limit, ...] = Field(
        default=(),
        max_length=len(INTERVALS),
        description="Every limit applies; one per interval (so one rolling limit, of any hours).",
    )
    per_recipient_limit: Limit | None = Field(
        default=None, description="What one recipient may get through this key in a window."
    )
    allowed_platforms: tuple[Platform, ...] | None = Field(
        default=None, description="null: every platform."
    )
    allowed_recipients: tuple[str, ...] | None = Field(
        default=None,
        max_length=_MAX_RECIPIENT_RULES,
        description="Exact addresses and `@domain` entries; null: anyone.",
    )
    allowed_payees: tuple[Annotated[str, Field(max_length=payees.MAX_PAYEE)], ...] | None = Field(
        default=None,
        max_length=_MAX_PAYEE_RULES,
        description="Whom a payment to a seller (`POST /payments`) may pay: destinations "
        "(`x402:<network>:<asset>:<payTo>`, `mpp:<profile>`), a bare x402 `payTo` address or "
        "MPP profile, and origins (`https://seller.example`), which admit only the "
        "destinations a person bound to them (approving a payment, or `POST "
        "/payments/bindings`); null: any payee.",
    )
    per_payee_limit: Limit | None = Field(
        default=None,
        description="What one payee (where the money goes: its destination, whatever url "
        "names it) may get through this key's payments in a window.",
    )
    approval_above_cents: int | None = Field(
        default=None,
        ge=0,
        le=_MAX_CENTS,
        description="A send or a payment to a seller above this is debited, held and answered "
        "202 `pending_approval` until a person or a key with the approvals scope decides it.",
    )
    approval_for_new_recipients: bool = Field(
        default=False,
        description="Hold for approval a send to a recipient this key never paid, and a "
        "payment to a destination it never paid (where the money goes, whatever url names it).",
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        strict=False,
        description="RFC 3339, from 1970 to before 9999 (UTC); the key is refused from then on.",
    )
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=100_000)
    soft_limit_percent: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="`key.budget_low` once a window when spend crosses this share of a limit.",
    )
    thresholds_percent: tuple[Annotated[int, Field(ge=1, le=100)], ...] | None = Field(
        default=None,
        max_length=MAX_THRESHOLDS,
        description="Up to 5 distinct shares of each limit: `key.budget_threshold` once a "
        "window as spend reaches each, `key.budget_recovered` once when a give-back takes it "
        "back under the lowest. Replaces `soft_limit_percent` (its one-level form). null: none.",
    )
    template: str | None = Field(
        default=None,
        pattern=r"^pt_[0-9a-z]{24}$",
        description="A policy template (`pt_…`) of this environment that bounds this policy: "
        "the key or consent acts under the template's fields narrowed by its own, never wider "
        "(see docs/fleets.md). null: none.",
    )
    budgets: tuple[Annotated[str, Field(pattern=BUDGET_ID)], ...] = Field(
        default=(),
        max_length=MAX_BUDGETS,
        description="Ids of budgets (`/budgets`) of this merchant and environment that every "
        "payment under this policy also draws on: admitted only if each has room.",
    )
    reveal_voucher: bool = Field(
        default=False,
        description="With an upstream provider, the reply's `voucher_code` is the spendable "
        "code itself only when true; otherwise null, and the code reaches the recipient alone. "
        "A key made without a policy reveals it.",
    )

    @field_validator("scopes", "allowed_platforms", "budgets", mode="after")
    @classmethod
    def _unique(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("entries must be unique")
        return value

    @field_validator("limits", mode="after")
    @classmethod
    def _one_per_interval(cls, value: tuple[Limit, ...]) -> tuple[Limit, ...]:
        return _one_per_interval(value)

    @field_validator("per_recipient_limit", "per_payee_limit", mode="after")
    @classmethod
    def _per_calendar(cls, value: Limit | None) -> Limit | None:
        return _calendar_only(value)

    @field_validator("allowed_recipients", mode="after")
    @classmethod
    def _rules(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(dict.fromkeys(map(_recipient_rule, value)))

    @field_validator("allowed_payees", mode="after")
    @classmethod
    def _payees(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else tuple(dict.fromkeys(map(payees.canonical, value)))

    @field_validator("expires_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        """Within the instants every request is held to (``timestamps.in_range``); a policy read
        back from the store is taken as it was kept (in UTC already), so a key saved before
        the range applied still loads."""
        if value is None:
            return None
        if info.context is not None and info.context.get(_STORED):
            return value.astimezone(UTC)
        return in_range(value)

    @field_validator("thresholds_percent", mode="after")
    @classmethod
    def _distinct_levels(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        return None if value is None else distinct_levels(value)

    @property
    def alert_percents(self) -> tuple[int, ...]:
        """The shares of each limit alerts are told at, lowest first: ``thresholds_percent``,
        else ``soft_limit_percent`` alone."""
        if self.thresholds_percent is not None:
            return self.thresholds_percent
        return () if self.soft_limit_percent is None else (self.soft_limit_percent,)

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes

    def narrowed(self, scopes: Iterable[str]) -> "Policy":
        """This policy with only those of its scopes that are also in ``scopes``: what a
        credential recorded with ``scopes`` may do under it (a token under its consent). Never
        wider: a scope the policy lacks stays out whatever ``scopes`` says."""
        given = frozenset(scopes)
        kept = tuple(s for s in self.scopes if s in given)
        return self if kept == self.scopes else self.model_copy(update={"scopes": kept})

    def beyond(self, bound: "Policy") -> tuple[str, ...]:
        """The fields in which this policy lets a key do more than ``bound`` does: what a key
        held to ``bound`` may not give, so that no key made or changed by a key outdoes its maker
        (scopes and the code's reveal are judged by what the maker holds, in
        ``merchants.keys``). A spend limit is within one of ``bound``'s when it holds it
        (``holds``: no larger over a window containing ``bound``'s); ``soft_limit_percent`` only
        warns, and is free."""
        wider: list[str] = []
        if _looser(self.max_per_send_cents, bound.max_per_send_cents):
            wider.append("max_per_send_cents")
        if any(not _within(self.limits, limit) for limit in bound.limits):
            wider.append("limits")
        if bound.per_recipient_limit is not None and not _within(
            () if self.per_recipient_limit is None else (self.per_recipient_limit,),
            bound.per_recipient_limit,
        ):
            wider.append("per_recipient_limit")
        if bound.allowed_platforms is not None and (
            self.allowed_platforms is None
            or not set(self.allowed_platforms) <= set(bound.allowed_platforms)
        ):
            wider.append("allowed_platforms")
        if bound.allowed_recipients is not None and (
            self.allowed_recipients is None
            or not all(_covered(r, bound.allowed_recipients) for r in self.allowed_recipients)
        ):
            wider.append("allowed_recipients")
        if bound.allowed_payees is not None and (
            self.allowed_payees is None or not set(self.allowed_payees) <= set(bound.allowed_payees)
        ):
            wider.append("allowed_payees")
        if bound.per_payee_limit is not None and not _within(
            () if self.per_payee_limit is None else (self.per_payee_limit,), bound.per_payee_limit
        ):
            wider.append("per_payee_limit")
        if _looser(self.approval_above_cents, bound.approval_above_cents):
            wider.append("approval_above_cents")
        if bound.approval_for_new_recipients and not self.approval_for_new_recipients:
            wider.append("approval_for_new_recipients")
        if bound.expires_at is not None and (
            self.expires_at is None or self.expires_at > bound.expires_at
        ):
            wider.append("expires_at")
        if _looser(self.rate_limit_per_minute, bound.rate_limit_per_minute):
            wider.append("rate_limit_per_minute")
        if not set(bound.budgets) <= set(self.budgets):
            wider.append("budgets")  # a key drawing on a budget makes none free of it
        return tuple(wider)

    def reveals_voucher(self) -> bool:
        """A key made without a policy (``UNRESTRICTED``, which says so) reveals; one made with
        a policy only when it says so. The field alone decides: a policy stored and read back
        reveals as it did when it was made."""
        return self.reveal_voucher

    def stored(self) -> dict[str, Any]:
        """The JSON kept in ``api_keys.policy``."""
        return self.model_dump(mode="json")


def _one_per_interval(value: tuple[Limit, ...]) -> tuple[Limit, ...]:
    if len({limit.interval for limit in value}) != len(value):
        raise ValueError("one limit per interval")
    return value


class BudgetLimits(_Strict):
    """A budget's windows (``/budgets``): the windows of a policy, counted for every key and
    consent that draws on the budget together."""

    limits: tuple[Limit, ...] = Field(
        default=(),
        max_length=len(INTERVALS),
        description="Every limit applies; one per interval (so one rolling limit, of any hours).",
    )
    per_recipient_limit: Limit | None = Field(
        default=None, description="What one recipient may get through this budget in a window."
    )
    per_platform_limit: Limit | None = Field(
        default=None,
        description="What one platform may get through this budget in a window; a charge, on "
        "no platform, counts as the platform `charge`, a payment to a seller as `payment`.",
    )

    @field_validator("limits", mode="after")
    @classmethod
    def _one_per_interval(cls, value: tuple[Limit, ...]) -> tuple[Limit, ...]:
        return _one_per_interval(value)

    @field_validator("per_recipient_limit", "per_platform_limit", mode="after")
    @classmethod
    def _per_calendar(cls, value: Limit | None) -> Limit | None:
        return _calendar_only(value)

    def stored(self) -> dict[str, Any]:
        """The JSON kept in ``budgets.windows``."""
        return self.model_dump(mode="json")


def distinct_levels(value: tuple[int, ...]) -> tuple[int, ...]:
    """Levels given once each, lowest first."""
    if len(set(value)) != len(value):
        raise ValueError("each level may be given once")
    return tuple(sorted(value))


def _looser(mine: int | None, bound: int | None) -> bool:
    """A cap (``None``: none) that lets more through than ``bound``'s."""
    return bound is not None and (mine is None or mine > bound)


# Per calendar interval, the intervals each of whose windows lies whole inside one of its own: a
# day in one week and in one month, every window in all time. A week may start in one month and
# end in the next, so neither of weekly and monthly lies inside one window of the other.
_INSIDE: dict[Interval, frozenset[Interval]] = {
    "daily": frozenset({"daily"}),
    "weekly": frozenset({"daily", "weekly"}),
    "monthly": frozenset({"daily", "monthly"}),
    "all_time": frozenset(INTERVALS),
}


def contains(outer: Limit, inner: Limit) -> bool:
    """Whether every window of ``inner`` lies inside one window of ``outer``, so that what
    ``outer`` counts over its window includes all ``inner`` counts over its own: the same
    calendar window or one nested in it (``_INSIDE``), any window in all time, and a rolling
    window in a rolling one as long or longer (whatever the last ``hours`` admit, the last fewer
    hours within them were admitted). A rolling window is not judged against a calendar one,
    though a rolling day holds a calendar day: none of a policy's fields sets one against the
    other, and for a grant the judgement errs on refusing."""
    if outer.interval == "rolling" or inner.interval == "rolling":
        if outer.interval == "all_time":
            return True
        if outer.hours is None or inner.hours is None:
            return False
        return outer.hours >= inner.hours
    return inner.interval in _INSIDE[outer.interval]


def holds(limit: Limit, bound: Limit) -> bool:
    """Whether ``limit`` holds spend to ``bound``: no more, over a window that contains each of
    ``bound``'s (``contains``: the same window, a calendar window nested in it as a day in a
    week or a month, a rolling one of fewer hours, or any, for all time). The spend in each
    window of ``bound`` is then part of the spend in the window of ``limit`` around it, which
    ``limit`` keeps to its amount, no more than ``bound``'s. Weekly and monthly hold neither the
    other: a week may span two months."""
    return limit.amount_cents <= bound.amount_cents and contains(limit, bound)


def _within(mine: Iterable[Limit], bound: Limit) -> bool:
    """Whether one of ``mine`` holds spend to ``bound`` (``holds``)."""
    return any(holds(limit, bound) for limit in mine)


def _covered(rule: str, bound: tuple[str, ...]) -> bool:
    """Whether a recipient rule admits no one ``bound``'s rules refuse: the same rule, or an
    address at a domain ``bound`` admits whole."""
    return rule in bound or (not rule.startswith("@") and "@" + rule.rpartition("@")[2] in bound)


UNRESTRICTED = Policy(scopes=KEY_SCOPES, reveal_voucher=True)

_loaded: dict[str, Policy] = {}  # a key's stored policy, parsed once per process per text


def load(stored: Any) -> Policy:
    """The policy of a key row: ``UNRESTRICTED`` for none (a key older than policies)."""
    if stored is None or stored == "null":  # SQL NULL, or a JSON null written by an older tool
        return UNRESTRICTED
    text = stored if isinstance(stored, str) else json.dumps(stored, sort_keys=True)
    policy = _loaded.get(text)
    if policy is None:
        if len(_loaded) > 10_000:
            _loaded.clear()
        policy = _loaded[text] = Policy.model_validate_json(text, context={_STORED: True})
    return policy
