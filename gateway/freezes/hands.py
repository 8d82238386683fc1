"""Who may lift the kill switch: the one rule every door's unfreeze asks (``service.unfreeze``).

A freeze stops every movement of the environment's money, so lifting it loosens, at once, every
limit a key, consent, template or budget of the environment holds. Only a hand that could
loosen each of them may lift it:

- a person: an owner of the merchant on the dashboard (``accounts.roles``, action
  ``unfreeze``: a developer may pull the switch in staging, never lift it; a viewer neither);
- the operator (the command line on the gateway's machine);
- a key of the merchant's own with the ``keys`` scope that is free of every limit: a policy
  with no limit at all is within it (``Policy.beyond`` is empty against it), read with its
  template as it acts. So no spend limit or most per send, no per-recipient limit, no platform
  or recipient list, no approval rule, no expiry, no rate limit and no budget, its own or
  through its template: a key held by any of them is one a person leashed, and lifting the
  freeze would loosen its leash (``FREEZE_LIFT_KEY_LIMITED``, ``data.fields`` naming them).
  This is the same rule by which a key makes another: a key could make a key free of every
  limit exactly when it may lift the freeze.

An app never lifts it, whatever its consent gives: neither its access token nor the key it
manages through its consent (``FREEZE_LIFT_BY_APP``). An agent that froze its environment
through MCP holds a key the rule above judges like any other; no tool lifts a freeze.

The key is read again in the unfreeze's own transaction, so a key revoked or narrowed a moment
before is judged as it stands. A budget's own freeze (``POST /freeze {budget_id}``) is the
budgets' rule (``budgets.service``): a key that draws on the budget may freeze it, never lift
it.
"""

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..accounts import roles
from ..policies.model import KEY_SCOPES, Policy
from ..policies.templates import effective_of
from ..store.models import ApiKeyRow, PolicyTemplate, table_of
from ..values.code_names import Code
from ..values.outcome import ApiError

__all__ = ["OPERATOR", "Hand", "key", "lift", "member"]

_K, _PT = table_of(ApiKeyRow), table_of(PolicyTemplate)

# A policy with every scope a key may hold and no limit at all: what a key must be able to give.
_FREE = Policy(scopes=KEY_SCOPES)


@dataclass(frozen=True, slots=True)
class Hand:
    """Who asks to lift a freeze: a key (``key_id``), a dashboard member (``role``) or the
    operator."""

    kind: Literal["key", "member", "operator"]
    key_id: str | None = None
    role: str | None = None


OPERATOR = Hand("operator")


def key(key_id: str) -> Hand:
    return Hand("key", key_id=key_id)


def member(role: str) -> Hand:
    return Hand("member", role=role)


async def lift(conn: AsyncConnection, merchant_id: str, env: str, hand: Hand) -> None:
    """Refuse (an ``ApiError``) a hand that may not lift the freeze of the merchant's ``env``."""
    if hand.kind == "operator":
        return
    if hand.kind == "member":
        if hand.role is None or not roles.allows(hand.role, "unfreeze", env):
            raise ApiError(Code.FREEZE_LIFT_ROLE)
        return
    found = (
        await conn.execute(
            select(
                _K.c.policy,
                _K.c.app_id,
                _K.c.managed_by,
                _K.c.revoked_at,
                _PT.c.policy.label("template_policy"),
            )
            .select_from(_K.outerjoin(_PT, _PT.c.id == _K.c.template_id))
            .where(_K.c.id == hand.key_id, _K.c.merchant_id == merchant_id, _K.c.env == env)
        )
    ).first()
    if found is None or found.revoked_at is not None:
        raise ApiError(Code.AUTH_REVOKED)
    if found.app_id is not None or found.managed_by is not None:
        raise ApiError(Code.FREEZE_LIFT_BY_APP)
    policy = effective_of(found.policy, found.template_policy)
    if not policy.allows("keys"):
        raise ApiError(Code.KEY_SCOPE_MISSING, data={"scope": "keys"})
    held = _FREE.beyond(policy)
    if held:
        raise ApiError(Code.FREEZE_LIFT_KEY_LIMITED, data={"fields": list(held)})
