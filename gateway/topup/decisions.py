"""What a person deciding a held send needs to read: why it was held, and once decided, who
decided it and when. A step of a read (``approvals.review`` runs it); the decisions themselves
are ``approvals``.

Why it was held is read from the sending key's policy as it stands (the send keeps no copy of
the rule that held it): above the key's approval line, or a first send to this recipient.
Who decided is the dashboard user's e-mail address, the deciding key's display prefix, or the
expiry sweep.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..approvals.held import Reasons, why
from ..callers import Caller
from ..policies.templates import effective_of
from ..store.models import ApiKeyRow, PolicyTemplate, Topup, User, table_of
from ..values import statuses
from ..values.marking import marked

__all__ = ["FROZEN", "REASONS", "Decision", "decision"]

_T = table_of(Topup)
_K = table_of(ApiKeyRow)
_PT = table_of(PolicyTemplate)
_U = table_of(User)
_DECIDED = (statuses.DELIVERED, statuses.DENIED, statuses.EXPIRED)
_USER = "user:"
# Who decided a held send the kill switch cancelled (``freezes``).
FROZEN = "freeze"


@dataclass(frozen=True, slots=True)
class Decision:
    # Why it waits (or waited) for approval: a marked sentence, said in the reader's words with
    # ``held_line`` (the approval line, cents) as ``%(line)s``.
    held_because: str | None
    decided_by: str | None  # who decided, in words
    decided_at: datetime | None
    sent_by: str  # the sending key's display prefix
    sent_by_name: str | None = None  # and its name, if it has one
    held_line: int | None = None


# Why a send was held, in the reader's words (``held.why``).
REASONS = Reasons(
    above=marked("above the sending key's approval line of %(line)s"),
    first=marked("the sending key's first send to this recipient"),
    policy=marked("the sending key's policy at the time of the send"),
)


async def decision(conn: AsyncConnection, caller: Caller, txn_id: str) -> Decision | None:
    """In the caller's read: for a send that was held for approval; ``None`` for any other (or
    not the caller's)."""
    row = (
        await conn.execute(
            select(
                _T.c.status,
                _T.c.amount_cents,
                _T.c.decided_by,
                _T.c.updated_at,
                _T.c.approval_expires_at,
                _K.c.display_prefix,
                _K.c.name,
                _K.c.policy,
                _PT.c.policy.label("template_policy"),
            )
            .join(_K, _K.c.id == _T.c.api_key_id)
            .outerjoin(_PT, _PT.c.id == _K.c.template_id)
            .where(
                _T.c.id == txn_id,
                _T.c.merchant_id == caller.merchant_id,
                _T.c.env == caller.env,
            )
        )
    ).first()
    if row is None or row.approval_expires_at is None:
        return None
    by: str | None = row.decided_by
    if by is not None and by.startswith(_USER):
        email = (
            await conn.execute(select(_U.c.email).where(_U.c.id == by.removeprefix(_USER)))
        ).scalar_one_or_none()
        by = email or "a former member"
    elif by == FROZEN:
        by = "nobody: the kill switch cancelled it"
    elif by is not None and by != "expiry":
        prefix = (
            await conn.execute(select(_K.c.display_prefix).where(_K.c.id == by))
        ).scalar_one_or_none()
        by = f"key {prefix}…" if prefix else "a key"
    elif by == "expiry":
        by = "nobody: the hold expired"
    decided = row.status in _DECIDED and row.decided_by is not None
    policy = effective_of(row.policy, row.template_policy)
    because, line = why(policy, int(row.amount_cents), REASONS)
    return Decision(
        because,
        by if decided else None,
        row.updated_at if decided else None,
        f"{row.display_prefix}…",
        row.name,
        line,
    )
