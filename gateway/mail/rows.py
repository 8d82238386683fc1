"""Mail rows: the outbox of e-mails, which the worker's mail lane sends (``worker.mail``).

The rows are the queue, as the webhook outbox's are: each is written in the transaction of the
change that causes it, the gateway wakes the workers after the commit (best effort), and a
worker leases each queued mail once it is due. Staging mail is written ``staged``: it lands in
the staging mailbox and is never sent.

The voucher mail is a step of the recipient's delivery (``voucher_steps``), so the send and
every later delivery (an approval, an upstream finishing) write it once, in their plan, through
this one definition; it is rendered from its top-up when sent, so it copies neither the address
nor the voucher. Other mails (``write``) hold their address and values sealed.
"""

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import Boolean, ColumnElement, String, and_, exists, insert, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..outbox import MAIL_PREFIX
from ..store.compose import Refs, Step
from ..store.expressions import const, from_rows, param
from ..store.models import Mail, Merchant, table_of
from ..store.raw import Construct
from ..store.types import UTCDateTime
from ..values.clock import new_id

__all__ = [
    "ACCOUNT",
    "APPROVAL_REQUEST",
    "AUTO_TOP_UP_DISABLED",
    "ENDPOINT_DISABLED",
    "ENDPOINT_FAILING",
    "ENVIRONMENT_FREEZE",
    "FAILED",
    "HELD",
    "KINDS",
    "PASSWORD_RESET",
    "QUEUED",
    "RECIPIENT_LINK",
    "SENT",
    "STAGED",
    "TREASURY_DRIFT",
    "TREASURY_LOW",
    "VOUCHER",
    "VoucherMail",
    "status_for",
    "voucher_params",
    "voucher_steps",
    "write",
]

_M = table_of(Mail)
_MER = table_of(Merchant)

QUEUED, SENT, FAILED, STAGED = "queued", "sent", "failed", "staged"
# Over a cap on voucher mails, or the caps not counted (``caps``): never sent; ``last_error``
# says which.
HELD = "held"
VOUCHER, RECIPIENT_LINK, PASSWORD_RESET = "voucher", "recipient_link", "password_reset"
# To a merchant's owners about one of its webhook endpoints (``webhooks.health``).
ENDPOINT_FAILING, ENDPOINT_DISABLED = "endpoint_failing", "endpoint_disabled"
# To an approver of a held send or payment, with a one-time decision link (``approvals.links``).
APPROVAL_REQUEST = "approval_request"
# To a merchant's owners: its wallet's auto top-up turned off by failures (``billing``).
AUTO_TOP_UP_DISABLED = "auto_top_up_disabled"
# To a merchant's owners when one of its environments is frozen or unfrozen (``freezes``).
ENVIRONMENT_FREEZE = "environment_freeze"
# To the operator (``operators``): a treasury rail's float below its level; a reconciliation
# that found the provider and the ledger disagreeing.
TREASURY_LOW, TREASURY_DRIFT = "treasury_low", "treasury_drift"
KINDS = (
    VOUCHER,
    RECIPIENT_LINK,
    PASSWORD_RESET,
    ENDPOINT_FAILING,
    ENDPOINT_DISABLED,
    APPROVAL_REQUEST,
    AUTO_TOP_UP_DISABLED,
    ENVIRONMENT_FREEZE,
    TREASURY_LOW,
    TREASURY_DRIFT,
)
ACCOUNT = None  # the env of a mail to a dashboard user: not a staging one, so it is sent


def status_for(env: str | None) -> str:
    """Staging mail never leaves the gateway."""
    return STAGED if env == "staging" else QUEUED


class VoucherMail(TypedDict):
    """What ``voucher_steps`` binds of its own (``voucher_params``)."""

    mail_id: str
    mail_status: str
    mail_note: str | None


def voucher_params(env: str, held: str | None = None) -> VoucherMail:
    """What ``voucher_steps`` binds besides the delivery's own names (``:env``,
    ``:merchant_id``, ``:txn_id``, ``:now``) and ``:notify``. ``held``: why the mail is held
    (``caps.take``), or ``None``."""
    status = HELD if held is not None else status_for(env)
    return {"mail_id": new_id(MAIL_PREFIX[:-1]), "mail_status": status, "mail_note": held}


def _switched_on() -> ColumnElement[bool]:
    """The send asked for it (``:notify``) and the merchant has not turned it off."""
    merchant_on = exists(
        select(literal_column("1")).where(
            _MER.c.id == param("merchant_id", String), _MER.c.notify_recipients
        )
    )
    return and_(param("notify", Boolean), merchant_on)


def _voucher_mail(refs: Refs, after: str) -> Construct:
    now = param("now", UTCDateTime())
    row: Mapping[str, ColumnElement[Any]] = {
        "id": param("mail_id", String),
        "env": param("env", String),
        "merchant_id": param("merchant_id", String),
        "kind": const(VOUCHER),
        "topup_id": param("txn_id", String),
        "status": param("mail_status", String),
        "attempts": literal_column("0"),
        "generation": literal_column("0"),
        "last_error": param("mail_note", String),
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
    return from_rows(insert(_M), [row], where=and_(refs.after(after), _switched_on()))


def voucher_steps(*, after: str) -> list[Step]:
    """The recipient's voucher mail (step ``mail``), once step ``after`` has returned a row."""
    echoes = (("id", "mail_id"), ("status", "mail_status"))
    return [Step("mail", lambda refs: _voucher_mail(refs, after), echoes=echoes)]


async def write(
    conn: AsyncConnection,
    sealer: Sealer,
    *,
    kind: str,
    env: str | None,
    merchant_id: str | None,
    to: str,
    data: Mapping[str, Any],
    now: datetime,
    held: str | None = None,
) -> str | None:
    """A mail to ``to`` with the values ``data`` (both sealed), in the caller's transaction:
    its id when it is to be sent (an ``Outcome``'s with the deliveries, for ``operations.perform``
    to wake the workers for), ``None`` when staged, or ``held`` (why: a cap, ``caps``)."""
    mail_id = new_id(MAIL_PREFIX[:-1])
    status = HELD if held is not None else status_for(env)
    await conn.execute(
        insert(_M).values(
            id=mail_id,
            env=env,
            merchant_id=merchant_id,
            kind=kind,
            to_sealed=sealer.seal(to, context=mail_id),
            data_sealed=sealer.seal(json.dumps(dict(data)), context=mail_id),
            status=status,
            attempts=0,
            generation=0,
            last_error=held,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    return mail_id if status == QUEUED else None
