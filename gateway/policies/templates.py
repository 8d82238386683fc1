"""The effective policy of a key or consent that names a policy template, and what a change to
a template does to it.

A template bounds; the key narrows. The rule is least privilege, as a corporate card under a
spend policy or a virtual key under a team budget works: whatever the template allows is the
most the key may do, and the key's own fields can only take away. So each field is the stricter
of the two: scopes and allow-lists are intersections, caps the smaller, holds and the expiry
whichever comes first, the code's reveal only when both say so. A spend limit is the one limit
that holds both (``holding_both``): the smaller amount over the window that contains both
windows. Where neither holds the other (a shorter window with the smaller amount), that is
stricter than each and may refuse what each alone admits: it fails closed, and never admits what
either refuses. ``effective`` is the one place that says it; every door reads the caller's
policy through it (``gateway.callers``), and the preview of a template change (``changes``)
compares what it gives before and after.
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from .model import INTERVALS, Limit, Policy, contains, load

__all__ = ["Change", "changes", "effective", "effective_of", "holding_both", "under_consent"]


def _least(mine: int | None, theirs: int | None) -> int | None:
    """The tighter of two caps (``None``: no cap)."""
    if mine is None:
        return theirs
    return mine if theirs is None else min(mine, theirs)


def holding_both(one: Limit, other: Limit) -> Limit:
    """The loosest one limit that holds both (``model.holds``): the smaller amount over the smallest
    window that contains both windows. That is one of the two where it holds the other; where
    neither does (the smaller amount over the shorter window), it is stricter than each (a key
    with $10 a day under $20 a week gets $10 a week; $10 a week under $20 a month, $10 for all
    time, as no calendar window but all time holds a week and a month), so it may refuse what
    each alone admits. It fails closed, as a limit that protects someone else must: it never
    admits what either refuses. The window is the longer of two nested calendar ones or two
    rolling ones, else all time."""
    amount = min(one.amount_cents, other.amount_cents)
    if contains(one, other):
        outer = one
    elif contains(other, one):
        outer = other
    else:
        return Limit(amount_cents=amount, interval="all_time")
    return (
        outer if outer.amount_cents == amount else outer.model_copy(update={"amount_cents": amount})
    )


def _limits(mine: Iterable[Limit], theirs: Iterable[Limit]) -> tuple[Limit, ...]:
    """One limit per interval: where both have one, the one that holds both (``_tighter``).
    Calendar intervals are kept apart, so both count; the one rolling limit of each is merged."""
    by: dict[str, Limit] = {limit.interval: limit for limit in theirs}
    for limit in mine:
        held = by.get(limit.interval)
        by[limit.interval] = limit if held is None else holding_both(limit, held)
    return tuple(by[i] for i in INTERVALS if i in by)


def _tighter(mine: Limit | None, theirs: Limit | None) -> Limit | None:
    """The one limit that holds both (``holding_both``): the key's own where it holds the
    template's (no more over a window containing it), the template's where it holds the key's,
    else the smaller amount over the smallest window containing both, stricter than each (a
    per-recipient $5 a day under $20 a week: $5 a week). One field holds one limit, and taking
    either alone would let the key spend what the other refuses: $20 to one recipient in a day,
    or $20 in an hour under its own $10 an hour."""
    if mine is None or theirs is None:
        return mine or theirs
    return holding_both(mine, theirs)


def _platforms(mine: tuple[str, ...] | None, theirs: tuple[str, ...] | None) -> Any:
    """What both lists admit (platforms, payees): ``None`` admits all."""
    if mine is None or theirs is None:
        return mine if theirs is None else theirs
    return tuple(p for p in mine if p in theirs)


def _admits(rule: str, rules: tuple[str, ...]) -> bool:
    """Whether ``rules`` admit everyone ``rule`` does: the same rule, or an address at a domain
    they admit whole."""
    return rule in rules or (not rule.startswith("@") and "@" + rule.rpartition("@")[2] in rules)


def _recipients(
    mine: tuple[str, ...] | None, theirs: tuple[str, ...] | None
) -> tuple[str, ...] | None:
    """Who both admit: each rule of one the other admits whole."""
    if mine is None or theirs is None:
        return mine if theirs is None else theirs
    kept = [r for r in mine if _admits(r, theirs)] + [r for r in theirs if _admits(r, mine)]
    return tuple(dict.fromkeys(kept))


def effective_of(own: Any, template: Any) -> Policy:
    """The effective policy of a key row: its stored ``policy`` under its template's stored
    one (``None``: the key names no template)."""
    mine = load(own)
    return mine if template is None else effective(mine, load(template))


# Policies are immutable and loaded once per text: a request pays a lookup, not a merge.
@functools.lru_cache(maxsize=4096)
def effective(own: Policy, template: Policy | None) -> Policy:
    """What a key or consent whose stored policy is ``own`` may do under ``template`` (``None``:
    it names none, or its template is gone): never more than either. ``own.template`` stays, so
    the policy still says which template bounds it."""
    if template is None:
        return own
    expires = [t for t in (own.expires_at, template.expires_at) if t is not None]
    return own.model_copy(
        update={
            "scopes": tuple(s for s in own.scopes if s in template.scopes),
            "max_per_send_cents": _least(own.max_per_send_cents, template.max_per_send_cents),
            "limits": _limits(own.limits, template.limits),
            "per_recipient_limit": _tighter(own.per_recipient_limit, template.per_recipient_limit),
            "allowed_platforms": _platforms(own.allowed_platforms, template.allowed_platforms),
            "allowed_recipients": _recipients(own.allowed_recipients, template.allowed_recipients),
            "allowed_payees": _platforms(own.allowed_payees, template.allowed_payees),
            "per_payee_limit": _tighter(own.per_payee_limit, template.per_payee_limit),
            "approval_above_cents": _least(own.approval_above_cents, template.approval_above_cents),
            "approval_for_new_recipients": own.approval_for_new_recipients
            or template.approval_for_new_recipients,
            "expires_at": min(expires) if expires else None,
            "rate_limit_per_minute": _least(
                own.rate_limit_per_minute, template.rate_limit_per_minute
            ),
            # Only a warning: the key's own line where it draws one.
            "soft_limit_percent": own.soft_limit_percent or template.soft_limit_percent,
            "thresholds_percent": own.thresholds_percent or template.thresholds_percent,
            "reveal_voucher": own.reveal_voucher and template.reveal_voucher,
            # Every budget either draws on: each must have room.
            "budgets": (*own.budgets, *(b for b in template.budgets if b not in own.budgets)),
        }
    )


@functools.lru_cache(maxsize=4096)
def under_consent(own: Policy, consent: Policy) -> Policy:
    """What a key an app manages (``apps.managed``) whose effective policy is ``own`` may do
    under its consent's effective policy ``consent`` as it stands now: never more than either,
    as under a template (``effective``), but for the windows. Its own limits stay its own
    (counted under the key), and the consent's are counted in the consent's own windows
    (``rules.Consent``), shared with its tokens and every key it ever managed; the budgets of
    both are drawn on."""
    merged = effective(own, consent)
    return merged.model_copy(
        update={
            "limits": own.limits,
            "per_recipient_limit": own.per_recipient_limit,
            "per_payee_limit": own.per_payee_limit,
            "soft_limit_percent": own.soft_limit_percent,
            "thresholds_percent": own.thresholds_percent,
        }
    )


Effect = Literal["tighter", "looser", "changed"]


@dataclass(frozen=True, slots=True)
class Change:
    """One field of an effective policy a template change moves: from ``before`` to ``after``
    (as the wire shows them), and whether the key may then do less (``tighter``), more
    (``looser``), or neither plainly (``changed``: a warning line moved)."""

    field: str
    before: Any
    after: Any
    effect: Effect


# Fields ``Policy.beyond`` does not judge (``merchants.keys`` judges them by what a maker holds).
_SCOPES = "scopes"
_REVEAL = "reveal_voucher"


def changes(before: Policy, after: Policy) -> list[Change]:
    """How a key's effective policy moves from ``before`` to ``after``, field by field. A limit
    is judged as a key's grant is (``Policy.beyond``, by ``model.holds``): $5 a week after $5 a
    day is tighter, and back looser. One that moves both ways ($5 a week to $5 a month: a week
    may span two months) is looser, since the key may then do something it could not."""
    old, new = before.stored(), after.stored()
    looser, tighter = set(after.beyond(before)), set(before.beyond(after))
    found: list[Change] = []
    for field, was in old.items():
        now = new[field]
        if field == "template" or was == now:
            continue
        if field == _SCOPES:
            effect: Effect = (
                "tighter" if set(now) < set(was) else "looser" if set(now) > set(was) else "changed"
            )
        elif field == _REVEAL:
            effect = "looser" if now else "tighter"
        elif field in looser:
            effect = "looser"
        elif field in tighter:
            effect = "tighter"
        else:
            effect = "changed"
        found.append(Change(field, was, now, effect))
    return found
