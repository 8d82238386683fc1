"""The send's parameters: the contract between the send's plans and the one function that fills
them (``service.send_params``), the send's part of every payment's (``payments.plan``).

Each key is named as the send's steps bind it. Every send supplies ``Sending`` (every payment's
``Paying`` and the top-up row's) and ``BalanceLow``; one that credits its recipient (its
transition's ``deliver``) supplies ``Crediting``; one with an event (its transition's ``event``)
supplies ``Announcing``; and each spend window it counts in supplies that window's parameters
(``spend.window_params``). A plan of the send is built with exactly the names its outcome and
windows supply (``given``), so a step that binds a name none supplies fails when the plan is
built, for every outcome and every shape of policy. Every part is typed where it is made (the
event's by ``outbox.event_params``, ``balance.low``'s by ``alerts.low_params``, the mail's by
``mail.voucher_params``), so mypy checks that each producer fills every key its part names, and
the plan's build that the steps bind only names the parts supply.

The parts are ``TypedDict``s, plain dicts at run time: the send is the hot path, and a dataclass
turned into the driver's mapping costs several times the dict itself on every send.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypedDict

from ..mail import rows as mail
from ..payments import plan
from ..policies import rules, spend
from .lifecycle import Transition

__all__ = [
    "Announcing",
    "BalanceLow",
    "Crediting",
    "Fulfilling",
    "Mailing",
    "Sending",
    "given",
    "params",
]


class Sending(plan.Paying):
    """What every send binds: every payment's (the debit, its spend and entries) and the
    top-up row."""

    platform: str
    email: str
    voucher_sealed: str | None
    voucher_hash: str | None  # the built-in voucher's digest, which redemption finds it by
    metadata: str | None  # JSON text
    failure_reason: str | None
    spend_buckets: str | None  # JSON text: the windows counted, which a refund gives back to
    approval_expires_at: datetime | None
    notify: bool  # the send's ``notify_recipient``: the row keeps it for a later delivery


# ``balance.low`` on crossing, which every send may make (``alerts.low_params``).
BalanceLow = plan.BalanceLow
# The voucher mail's part of ``Crediting``, as ``mail.voucher_params`` returns it.
Mailing = mail.VoucherMail
# The send's own event (``outbox.event_params``).
Announcing = plan.Announcing


class Crediting(TypedDict):
    """The recipient's wallet, made on its first credit (``ledger.recipient_credit``)."""

    recipient_wallet_id: str
    recipient_owner: str
    mail_id: str  # the voucher mail's (``mail.voucher_params``)
    mail_status: str
    mail_note: str | None


class Fulfilling(TypedDict):
    """A send to an upstream: its work's row (``upstreams.work.work_step``)."""

    fulfil_provider: str
    fulfil_reference: str
    fulfil_due_at: datetime


def given(sent: Transition, windows: Sequence[str], answered: bool = False) -> frozenset[str]:
    """The names a send of transition ``sent``, counted in ``windows`` (``answered``: under an
    idempotency key, taken with its answer as the plan's last step), supplies."""
    parts = [Sending.__required_keys__]
    if sent.deliver:
        parts.append(Crediting.__required_keys__)
    if sent.event is not None:
        parts.append(Announcing.__required_keys__)
    if sent.fulfil:
        parts.append(Fulfilling.__required_keys__)
    return plan.given(windows, *parts, answered=answered)


def params(
    sending: Sending,
    low: BalanceLow,
    crediting: Crediting | None,
    announcing: Announcing | None,
    counted: Sequence[rules.Counted],
    fulfilling: Fulfilling | None = None,
) -> dict[str, Any]:
    """The run's parameters: the names ``given`` names for the send's transition and
    ``counted``'s windows when ``crediting`` and ``announcing`` are supplied as it says
    (``Plan.run`` refuses a run missing one)."""
    out: dict[str, Any] = {**sending, **low}
    if crediting is not None:
        out.update(crediting)
    if announcing is not None:
        out.update(announcing)
    if counted:
        out.update(spend.spend_params(counted))
    if fulfilling is not None:
        out.update(fulfilling)
    return out
