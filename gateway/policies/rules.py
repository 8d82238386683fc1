"""The rules of a key's policy, each defined once and used by every door and every kind of
payment: a send and an app's charge are judged by the same ``judge``.

Rules that need no store (scope, platform, recipient, per-send cap, approval line) are judged
here before anything is written. Rules that count (the windows) are judged by the store inside
the send's transaction (``gateway.policies.spend``); this module only names the windows a send
counts in and turns the store's "no" into the refusal an agent can act on.
"""

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from ..values.clock import rfc3339
from ..values.code_names import Code
from ..values.outcome import ApiError
from . import payees
from .model import BudgetLimits, Interval, Limit, Policy
from .payees import Payee
from .windows import Window, frees_at, rolling, window, window_on

__all__ = [
    "PAID",
    "Consent",
    "Counted",
    "Drawn",
    "Held",
    "Judged",
    "Payment",
    "budget_calendar",
    "charge",
    "check_send",
    "counted_windows",
    "frees",
    "is_rolling",
    "judge",
    "needs_approval",
    "paid_window",
    "per_bucket",
    "refused",
    "seller",
]

# The name of the window of what a key has paid a recipient (``paid_window``): the send and
# a delivery by a change of the lifecycle bind its parameters by it.
PAID = "spend_paid"
# The limit of a count that limits nothing (``paid_window``): far above any real sum.
_NO_LIMIT = 10**15


@dataclass(frozen=True, slots=True)
class Counted:
    """One window a send counts in: a row of ``key_spend`` under ``limit_cents``."""

    name: str  # the plan's step, e.g. ``spend_daily``, ``spend_recipient``
    # ``limit_source`` of a refusal: daily, weekly, monthly, all_time, per_recipient, per_payee
    source: str
    interval: Interval
    bucket: str
    limit_cents: int
    soft_cents: int | None  # ``key.budget_low`` once spend reaches this in the window
    resets_at: datetime | None
    # A shared window (``key_spend`` rows under this id): a budget's, or the consent's a managed
    # key acts under (``consent``); ``None``: the paying key's own.
    budget_id: str | None = None
    consent: bool = False
    # A rolling window: its hours, and the minute's row before its first (``windows.rolling``);
    # ``bucket`` is then its current minute's row, the one a payment counts in.
    hours: int | None = None
    since: str | None = None

    @property
    def row(self) -> tuple[str | None, str]:
        """The window's row: whose (``None``: the paying key's) and its bucket."""
        return self.budget_id, self.bucket


# A rolling window's step name ends so (``spend_rolling``, a budget's ``spend_b0_rolling``):
# one per policy, as ``limits`` hold one per interval.
_ROLLING = "rolling"


def is_rolling(name: str) -> bool:
    """Whether the window of step ``name`` (a ``Counted.name``) is a rolling one."""
    return name.endswith(_ROLLING)


@dataclass(frozen=True, slots=True)
class Held:
    """What a window holds as read: its spend (a rolling window's, over its minutes) and, for a
    rolling window, the minute's row of its oldest spend (``windows.frees_at``)."""

    spent_cents: int = 0
    oldest: str | None = None


_NOTHING = Held()


@dataclass(frozen=True, slots=True)
class Consent:
    """The consent a key its app manages acts under (``apps.managed``), as it stands at the
    payment: its id, whose windows the payment counts in too (the windows its tokens and
    every key it ever managed count in together), and its policy under its template."""

    id: str
    policy: Policy


@dataclass(frozen=True, slots=True)
class Drawn:
    """A budget a payment draws on (a policy's ``budgets``), as read for the payment."""

    id: str
    name: str
    frozen: bool
    windows: BudgetLimits
    thresholds: tuple[int, ...] = ()  # its ``thresholds_percent``, lowest first


def _lowest(percents: tuple[int, ...]) -> int | None:
    """The soft line a window is marked at: the lowest share its alerts are told at
    (``policies.thresholds`` tells the rest)."""
    return percents[0] if percents else None


def frees(held: Held, hours: int) -> str | None:
    """When the oldest spend a rolling window of ``hours`` ``held`` leaves it (RFC 3339 UTC),
    freeing its amount; None when it holds none."""
    return None if held.oldest is None else rfc3339(frees_at(held.oldest, hours))


def _limit_data(
    source: str, limit: int, remaining: int, resets_at: datetime | None, **extra: object
) -> dict[str, object]:
    return {
        "limit_source": source,
        "limit_cents": limit,
        "remaining_cents": max(0, remaining),
        "resets_at": None if resets_at is None else rfc3339(resets_at),
        **extra,
    }


def _recipient_allowed(rules: Sequence[str], email: str) -> bool:
    domain = "@" + email.rpartition("@")[2]
    return email in rules or domain in rules


@dataclass(frozen=True, slots=True)
class Payment:
    """What a caller asks its policy to let it pay: a send of ``amount`` to ``recipient`` (an
    address) on ``platform``; a charge (``platform`` ``None``) of an app's fee, whose recipient
    is the app it pays (``charge``); or a seller's 402 paid (``payee``, ``seller``), whose
    recipient is its payee."""

    amount: int
    recipient: str
    platform: str | None = None
    payee: Payee | None = None

    @property
    def is_charge(self) -> bool:
        return self.platform is None and self.payee is None

    @property
    def paying(self) -> str:
        """What a budget's per-platform window counts it as: its platform, ``charge`` or
        ``payment``."""
        return self.platform or ("charge" if self.payee is None else "payment")


def charge(app_id: str, amount: int) -> Payment:
    """A charge by ``app_id``: its recipient, for the per-recipient limit, is the app (whose
    owner it pays). Not an address, so no send's recipient shares its count."""
    return Payment(amount, f"app:{app_id}")


def seller(payee: Payee, amount: int) -> Payment:
    """A payment to a seller: its recipient, for the per-recipient limit, is its destination,
    never the url's origin. Not an address, so no send's recipient shares its count."""
    return Payment(amount, f"payee:{payee.destination}", payee=payee)


@dataclass(frozen=True, slots=True)
class Judged:
    """A payment the policy lets through, and how: the windows it counts in, whether it is held
    above the approval line, whether it is held unless the store knows its recipient, and (a
    payment to a seller ``allowed_payees`` admits by its origin alone) whether it is held unless
    a person bound its destination to that origin (``sellers.bindings``)."""

    counted: list[Counted]
    held: bool
    ask_new: bool
    ask_bound: bool = False


def judge(
    policy: Policy,
    payment: Payment,
    now: datetime,
    budgets: Sequence[Drawn] = (),
    consent: Consent | None = None,
) -> Judged:
    """The one evaluation of a payment under a policy, a send's or a charge's: refused here,
    each rule with its own code, if the policy may not make it whatever was spent; else the
    windows the store counts it in and the holds that apply (a send's and a payment to a
    seller's alike: each has its held state). A charge has none, so a
    rule that would hold it refuses it (``KEY_RULE_REFUSES_CHARGE``), as does a platform or
    recipient list, which a charge (paying an app, on no platform) cannot be on: a rule is
    never skipped because a payment is a charge.

    ``budgets``: the policy's budgets as read for this payment; each adds its windows, counted
    with the key's in the one write, and a frozen one, or one of the policy's not read (gone),
    refuses the payment: a budget that protects the merchant never fails open.

    ``consent``: a managed key's consent as it stands (``policy`` is already no wider than it,
    ``callers``); its windows are counted too, under its id, so the consent's limits hold for
    its tokens and all its keys together, whatever key pays and however often it was rotated."""
    payee = None if payment.payee is None else payment.payee.destination
    ask_bound = False
    if payment.payee is not None:
        ask_bound = _check_payment(policy, payment.payee, payment.amount)
    elif payment.platform is None:
        _check_charge(policy, payment.amount)
    else:
        check_send(policy, payment.platform, payment.recipient, payment.amount)
    held = needs_approval(policy, payment.amount)
    ask_new = policy.approval_for_new_recipients and not held
    counted = counted_windows(policy, payment.recipient, now, payee)
    if consent is not None:
        counted = [*counted, *_consent_windows(consent, payment.recipient, now, payee)]
    if policy.budgets:
        counted = [*counted, *_budget_windows(policy, budgets, payment, now)]
    return Judged(counted, held, ask_new, ask_bound and not held)


def _consent_windows(
    consent: Consent, email: str, now: datetime, payee: str | None
) -> list[Counted]:
    """The consent's own windows, as its tokens count in them: its calendar limits, its
    per-recipient one and, for a payment to a seller, its per-payee one, under its soft line, in
    the rows its tokens write."""
    held = consent.policy
    per = _per(held, email, payee)
    found = _windows("spend_c_", held.limits, per, now, _lowest(held.alert_percents), consent.id)
    return [dataclasses.replace(c, consent=True) for c in found]


def _budget_windows(
    policy: Policy, budgets: Sequence[Drawn], payment: Payment, now: datetime
) -> list[Counted]:
    by_id = {b.id: b for b in budgets}
    found: list[Counted] = []
    platform = payment.paying
    for i, budget_id in enumerate(policy.budgets):
        budget = by_id.get(budget_id)
        if budget is None:
            raise ApiError(Code.BUDGET_NOT_FOUND, data={"budget_id": budget_id})
        if budget.frozen:
            raise ApiError(Code.BUDGET_FROZEN, data={"budget_id": budget.id, "name": budget.name})
        found.extend(
            _windows(
                f"spend_b{i}_",
                budget.windows.limits,
                (
                    (budget.windows.per_recipient_limit, "per_recipient", payment.recipient),
                    (budget.windows.per_platform_limit, "per_platform", platform),
                ),
                now,
                _lowest(budget.thresholds),
                budget.id,
            )
        )
    return found


def _charge_refused(rule: str, message: str) -> ApiError:
    return ApiError(Code.KEY_RULE_REFUSES_CHARGE, message, data={"rule": rule})


def _check_charge(policy: Policy, amount: int) -> None:
    if not policy.allows("billing"):
        raise ApiError(Code.KEY_SCOPE_MISSING, data={"scope": "billing"})
    if policy.allowed_platforms is not None:
        raise _charge_refused(
            "allowed_platforms", "A charge goes to no platform, and this consent names platforms"
        )
    if policy.allowed_recipients is not None:
        raise _charge_refused(
            "allowed_recipients",
            "A charge pays the app's merchant, not a recipient this consent names",
        )
    _check_cap(policy, amount)
    if needs_approval(policy, amount):
        raise _charge_refused(
            "approval_above_cents",
            "This consent holds payments above its approval line, and a charge is never held",
        )
    if policy.approval_for_new_recipients:
        raise _charge_refused(
            "approval_for_new_recipients",
            "This consent holds payments to new recipients, and a charge is never held",
        )


def _check_payment(policy: Policy, payee: Payee, amount: int) -> bool:
    """Refuse, each with its own code, a payment to a seller the key may not make whatever it
    has spent: its scope, its payee, its cap. A rule that would hold it (the approval line, a
    new payee) holds it, as it holds a send (``Judged.held``, ``Judged.ask_new``). The send's
    platform and recipient lists are the send's: a payment goes to no platform and no address,
    and ``allowed_payees`` says whom it may pay: its destination, or (``True``: held unless
    bound) the origin it states, which admits only the destinations a person bound to it."""
    if not policy.allows("payments:send"):
        raise ApiError(Code.KEY_SCOPE_MISSING, data={"scope": "payments:send"})
    ask_bound = payees.judge(policy.allowed_payees, payee)
    _check_cap(policy, amount)
    return ask_bound


def _check_cap(policy: Policy, amount: int) -> None:
    cap = policy.max_per_send_cents
    if cap is not None and amount > cap:
        raise ApiError(Code.KEY_PER_SEND_CAP, data=_limit_data("max_per_send", cap, cap, None))


def check_send(policy: Policy, platform: str, email: str, amount: int) -> None:
    """Refuse, each with its own code, a send the key may not make whatever it has spent."""
    if not policy.allows("topup:send"):
        raise ApiError(Code.KEY_SCOPE_MISSING, data={"scope": "topup:send"})
    if policy.allowed_platforms is not None and platform not in policy.allowed_platforms:
        raise ApiError(
            Code.KEY_PLATFORM_NOT_ALLOWED,
            data={"platform": platform, "allowed_platforms": list(policy.allowed_platforms)},
        )
    if policy.allowed_recipients is not None and not _recipient_allowed(
        policy.allowed_recipients, email
    ):
        raise ApiError(Code.KEY_RECIPIENT_NOT_ALLOWED)
    _check_cap(policy, amount)


def needs_approval(policy: Policy, amount: int) -> bool:
    line = policy.approval_above_cents
    return line is not None and amount > line


def budget_calendar(budget: Drawn, now: datetime) -> list[Counted]:
    """The windows of ``budget``'s limits at ``now``, calendar and rolling: what its spend is
    read in."""
    return _windows("spend_b_", budget.windows.limits, (), now, None, budget.id)


# The windows kept per one thing a payment goes to (a recipient, a platform): the source of a
# refusal, the plan's step name and the bucket's prefix.
_PER = {
    "per_recipient": ("recipient", "recipient"),
    "per_platform": ("platform", "platform"),
    "per_payee": ("payee", "payee"),
}


def per_bucket(source: str, w: Window) -> str:
    """The start of the name of every row of window ``w`` kept per thing (``source``:
    ``per_recipient``, ``per_platform``, ``per_payee``); the thing's name ends it."""
    return f"{_PER[source][1]}:{w.bucket}:"


def _per(policy: Policy, email: str, payee: str | None) -> list[tuple[Limit | None, str, str]]:
    """The per-thing windows of ``policy`` for a payment to ``email`` (its recipient) and, for
    a payment to a seller, ``payee`` (its destination)."""
    per = [(policy.per_recipient_limit, "per_recipient", email)]
    if payee is not None:
        per.append((policy.per_payee_limit, "per_payee", payee))
    return per


def counted_windows(
    policy: Policy, email: str, now: datetime, payee: str | None = None
) -> list[Counted]:
    """The windows a payment by this key to ``email`` at ``now`` counts in (a payment to a
    seller: its destination ``payee``'s too)."""
    per = _per(policy, email, payee)
    return _windows("spend_", policy.limits, per, now, _lowest(policy.alert_percents), None)


def _windows(
    prefix: str,
    limits: tuple[Limit, ...],
    per: Sequence[tuple[Limit | None, str, str]],
    now: datetime,
    percent: int | None,
    budget_id: str | None,
) -> list[Counted]:
    """The one reckoning of windows, a key's (``budget_id`` ``None``) or a budget's: the
    calendar and rolling windows of ``limits``, and for each ``(limit, source, what)`` of
    ``per`` the window of ``limit`` kept for ``what`` (a recipient, a platform). Step names
    start with ``prefix``."""
    found = list(_calendar(prefix, limits, percent, budget_id, now.astimezone(UTC).date()))
    for each in limits:
        if each.hours is not None:
            w = rolling(each.hours, now)
            found.append(
                Counted(
                    f"{prefix}{_ROLLING}",
                    "rolling",
                    "rolling",
                    w.bucket,
                    each.amount_cents,
                    None,  # a soft line is a calendar window's: one row holds its spend
                    None,
                    budget_id,
                    hours=each.hours,
                    since=w.since,
                )
            )
    for limit, source, what in per:
        if limit is None:
            continue
        step = _PER[source][0]
        w = window(limit.interval, now)
        found.append(_counted(f"{prefix}{step}", source, limit, w, per_bucket(source, w) + what))
        if budget_id is not None:
            found[-1] = dataclasses.replace(found[-1], budget_id=budget_id)
    return found


def _counted(
    name: str, source: str, limit: Limit, w: Window, bucket: str, soft: int | None = None
) -> Counted:
    return Counted(name, source, limit.interval, bucket, limit.amount_cents, soft, w.resets_at)


@functools.lru_cache(maxsize=1024)
def _calendar(
    prefix: str, limits: tuple[Limit, ...], percent: int | None, budget_id: str | None, day: date
) -> tuple[Counted, ...]:
    """The windows of ``limits`` on the UTC ``day``: the same for every send that day under the
    same limits (which are immutable)."""
    found = []
    for limit in limits:
        if limit.hours is not None:
            continue  # rolling: its window moves by the minute (``_windows``)
        w = window_on(limit.interval, day)
        soft = None if percent is None else limit.amount_cents * percent // 100
        counted = _counted(f"{prefix}{limit.interval}", limit.interval, limit, w, w.bucket, soft)
        found.append(dataclasses.replace(counted, budget_id=budget_id))
    return tuple(found)


def paid_window(email: str) -> Counted:
    """What this key has delivered to ``email``, ever: a recipient it "never paid" has no such
    row (``approval_for_new_recipients``). Counted on delivery only, so a send still held does
    not make its recipient known."""
    return Counted(PAID, "paid", "all_time", f"paid:{email}", _NO_LIMIT, None, None)


def refused(
    counted: Sequence[Counted], held: Mapping[tuple[str | None, str], Held], amount: int
) -> ApiError:
    """The refusal for a send of ``amount`` the store would not count: the first window it
    does not fit, given what each ``held`` (by ``Counted.row``) now."""
    over = next(
        (c for c in counted if held.get(c.row, _NOTHING).spent_cents + amount > c.limit_cents),
        counted[0],  # the count that refused it has since been given back
    )
    found = held.get(over.row, _NOTHING)
    remaining = over.limit_cents - found.spent_cents
    extra: dict[str, object] = {"interval": over.interval}
    if over.hours is not None:
        extra["hours"] = over.hours
        extra["frees_at"] = frees(found, over.hours)
    if over.consent:
        code = Code.CONSENT_LIMIT_REACHED
    elif over.budget_id is not None:
        code = Code.BUDGET_LIMIT_REACHED
        extra["budget_id"] = over.budget_id
    elif over.source == "per_recipient":
        code = Code.KEY_PER_RECIPIENT_LIMIT
    elif over.source == "per_payee":
        code = Code.KEY_PER_PAYEE_LIMIT
    else:
        code = Code.KEY_LIMIT_REACHED
    return ApiError(
        code, data=_limit_data(over.source, over.limit_cents, remaining, over.resets_at, **extra)
    )
