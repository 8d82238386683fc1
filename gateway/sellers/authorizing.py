"""A payment to a seller's plan and parameters (``payment_params``, ``payment_plan``), its
credential sealed, and the two records that end its request: the credential made
(``authorize``) or not (``fail``), each a move of ``states`` with the reply it leaves
under the payment's idempotency key.

The payment is a payment as a send and a charge are (``payments.plan``): the payer's
conditional debit first (no row while the wallet is short or its environment frozen: nothing is
written), its count in the key's windows (the store refuses the whole write past a limit), the
payment row (``pending``) and its work for the worker (due past the inline try's deadline), its
``payment_debit`` entry, ``balance.low`` on crossing and an auto top-up's run. No event: the
payment is told once its credential is made or not. A payment a rule of its key's policy holds
is the same plan but written ``pending_approval`` with its approval window, its work due when
the window closes (the worker expires it then), and its event, ``payment.pending_approval``:
nothing is made until it is approved (``approvals``).

A payment the merchant's own instrument pays (``funded_by`` ``own``, ``funding``) is the same
plan with the wallet's unfrozen gate in the debit's place (``plan.payment_steps``'s
``debits``): counted in the same windows, refused by the same limits and the same freeze, but
the wallet not debited and no entry written.
"""

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from .. import idempotency, outbox
from ..callers import Caller
from ..ledger import alerts
from ..ledger import service as ledger
from ..payments import plan
from ..payments.plan import DEBIT
from ..policies import rules, spend
from ..protocols.base import OWN, WALLET, Demand, Made
from ..store.compose import Plan, Refs, Step
from ..store.expressions import const, from_rows, param
from ..store.models import SellerPayment, SellerPaymentWork, table_of
from ..store.raw import Construct, Raw, Statement
from ..store.types import UTCDateTime
from ..values.clock import new_id, rfc3339
from ..values.code_names import Code
from ..values.codes import CATALOGUE
from ..values.outcome import ApiError, Outcome
from .schemas import PaymentData, PaymentMade
from .states import AUTHORIZED, DEBIT_KIND, FAILED, HELD, QUEUE, first, move

__all__ = [
    "OWN_MADE",
    "Authorizing",
    "Prepared",
    "authorize",
    "data_of",
    "end_soon",
    "fail",
    "given",
    "held_event_data",
    "held_of",
    "keep",
    "known_payee",
    "made_of",
    "open_made",
    "payment_params",
    "payment_plan",
    "read",
    "refusal_of",
    "reschedule",
    "seal_made",
]

_P = table_of(SellerPayment)
_W = table_of(SellerPaymentWork)
_INT = sa.BigInteger()


class Authorizing(plan.Paying):
    """What every payment to a seller binds: every payment's (the payer's debit, its spend and
    its entry), the payment row and its work."""

    currency: str
    protocol: str
    payee: str
    payee_origin: str
    destination: str
    url: str
    challenge: str
    header: str
    description: str | None
    spend_buckets: str | None  # JSON text: the windows counted, which a release gives back to
    idempotency_key: str
    expires_at: datetime
    approval_expires_at: datetime | None  # held: when its approval window closes
    funded_by: str  # ``wallet`` (debited; the operator's treasury pays) or ``own``
    # When its work is the worker's: past the inline try's deadline, or, held, at the window's
    # close.
    work_due_at: datetime


def _insert_payment(refs: Refs, held: bool) -> Construct:
    now = param("now", UTCDateTime())
    row: dict[str, Any] = {
        "id": param("txn_id", sa.String),
        "env": param("env", sa.String),
        "merchant_id": param("merchant_id", sa.String),
        "api_key_id": param("api_key_id", sa.String),
        "wallet_id": param("wallet_id", sa.String),
        "status": const(first(held)),
        "amount_cents": param("amount", _INT),
        "used_cents": sa.null(),
        "currency": param("currency", sa.String),
        "protocol": param("protocol", sa.String),
        "payee": param("payee", sa.String),
        "payee_origin": param("payee_origin", sa.String),
        "destination": param("destination", sa.String),
        "url": param("url", sa.String),
        "challenge": param("challenge", sa.Text),
        "header": param("header", sa.String),
        "description": param("description", sa.String),
        "made_sealed": sa.null(),
        "spend_buckets": param("spend_buckets", sa.JSON()),
        "idempotency_key": param("idempotency_key", sa.String),
        "failure_reason": sa.null(),
        "expires_at": param("expires_at", UTCDateTime()),
        "approval_expires_at": param("approval_expires_at", UTCDateTime()),
        "decided_by": sa.null(),
        "funded_by": param("funded_by", sa.String),
        "created_at": now,
        "updated_at": now,
    }
    return from_rows(sa.insert(_P), [row], where=refs.after(DEBIT))


def _insert_work(refs: Refs) -> Construct:
    row: dict[str, Any] = {
        "payment_id": param("txn_id", sa.String),
        "merchant_id": param("merchant_id", sa.String),
        "status": const(QUEUE.due),
        "attempts": sa.literal_column("0"),
        "generation": sa.literal_column("0"),
        "next_attempt_at": param("work_due_at", UTCDateTime()),
        "last_error": sa.null(),
        "updated_at": param("now", UTCDateTime()),
    }
    return from_rows(sa.insert(_W), [row], where=refs.after(DEBIT))


def _steps(windows: Sequence[str], held: bool, own: bool, claimed: bool) -> list[Step]:
    debit = ledger.Line(ledger.merchant_wallet(), -ledger.amount(), const(DEBIT_KIND))

    def lines(refs: Refs) -> list[ledger.Line]:
        drawn = ledger.given_back(debit, refs.col(DEBIT, ledger.THROUGH))
        return ledger.numbered(refs.col(DEBIT, ledger.COUNT), drawn)

    return plan.payment_steps(
        windows,
        claimed=claimed,
        writes=[Step("payment", lambda r: _insert_payment(r, held)), Step("work", _insert_work)],
        lines=lines,
        event=held,
        debits=not own,
    )


def given(windows: Sequence[str], held: bool = False, claimed: bool = False) -> frozenset[str]:
    """The names a payment to a seller counted in ``windows`` (``held``: with its event;
    ``claimed``: its key's claim first) supplies."""
    told = plan.Announcing.__required_keys__ if held else frozenset()
    return plan.given(windows, Authorizing.__required_keys__, told, claimed=claimed)


@functools.cache
def payment_plan(
    windows: tuple[str, ...], held: bool = False, own: bool = False, claimed: bool = False
) -> Plan:
    """The plan of a payment to a seller counted in ``windows`` (``held``: for approval;
    ``own``: paid by the merchant's own instrument, the wallet not debited; ``claimed``: its
    idempotency key's claim first), built with the names it supplies (``given``): a step
    binding any other fails here."""
    return Plan(_steps(windows, held, own, claimed), given=given(windows, held, claimed))


# A payment of the key to the destination whose credential was made (only ``authorize`` writes
# one), whatever became of it since (authorized, used, released): the destination is then one
# the key has paid (``approval_for_new_recipients``), whatever url named it.
_KNOWN = Statement.of(
    sa.select(_P.c.id)
    .where(
        _P.c.api_key_id == param("api_key_id", sa.String),
        _P.c.destination == param("destination", sa.String),
        _P.c.made_sealed.is_not(None),
    )
    .limit(1)
)


async def known_payee(tx: Raw, key_id: str, destination: str) -> bool:
    """Whether key ``key_id`` has paid ``destination`` before: a payment of its there had its
    credential made."""
    return bool(await tx.fetch(_KNOWN, {"api_key_id": key_id, "destination": destination}))


class Prepared(NamedTuple):
    payment: Authorizing  # its own part, which its reply is read from
    params: dict[str, Any]  # the run's: every part, and its windows' names


def payment_params(
    caller: Caller,
    demand: Demand,
    *,
    url: str,
    origin: str,
    destination: str,
    challenge: str,
    description: str | None,
    idempotency_key: str,
    counted: Sequence[rules.Counted],
    now: datetime,
    work_due_at: datetime,
    approval_expires_at: datetime | None = None,
    funded_by: str = WALLET,
) -> Prepared:
    """The run's parameters: exactly the names ``given`` names for ``counted``'s windows, and
    held (``approval_expires_at``: its window's close) its event's."""
    payment_id = new_id("pay")
    held = approval_expires_at is not None
    fields: Authorizing = {
        "txn_id": payment_id,
        "now": now,
        "env": caller.env,
        "merchant_id": caller.merchant_id,
        "api_key_id": caller.key_id,
        "wallet_id": caller.wallet_id,
        "amount": demand.amount_cents,
        "taken": demand.amount_cents,
        "reference": payment_id,
        "memo": f"payment to {demand.payee} for {url}"[:500],
        "currency": demand.currency.lower(),
        "protocol": demand.protocol,
        "payee": demand.payee[:255],
        "payee_origin": origin,
        "destination": destination,
        "url": url,
        "challenge": challenge,
        "header": demand.header[:100],
        "description": description,
        "spend_buckets": json.dumps(spend.kept(counted)) if counted else None,
        "idempotency_key": idempotency_key,
        "expires_at": demand.expires_at,
        "approval_expires_at": approval_expires_at,
        "funded_by": funded_by,
        "work_due_at": approval_expires_at if approval_expires_at is not None else work_due_at,
    }
    told: dict[str, Any] = {}
    if held:
        told = dict(outbox.event_params(HELD_EVENT, now, caller.env, held_event_data(fields)))
    low = alerts.low_params(caller.env, caller.alert_levels, now)
    return Prepared(fields, {**fields, **told, **low, **spend.spend_params(counted)})


HELD_EVENT = "payment.pending_approval"


def held_event_data(fields: Authorizing) -> dict[str, Any]:
    """What ``payment.pending_approval`` says of a payment as it is written."""
    expires = fields["approval_expires_at"]
    assert expires is not None
    return {
        "id": fields["txn_id"],
        "status": HELD,
        "amount_cents": fields["amount"],
        "currency": fields["currency"],
        "payee": fields["payee"],
        "destination": fields["destination"],
        "protocol": fields["protocol"],
        "url": fields["url"],
        "expires_at": rfc3339(fields["expires_at"]),
        "approval_expires_at": rfc3339(expires),
        "funded_by": fields["funded_by"],
    }


def held_of(fields: Authorizing) -> PaymentData:
    """A held payment as its reply (202) shows it, from what was written."""
    now = rfc3339(fields["now"])
    expires = fields["approval_expires_at"]
    return PaymentData(
        id=fields["txn_id"],
        status=HELD,
        amount_cents=fields["amount"],
        used_cents=None,
        currency=fields["currency"],
        payee=fields["payee"],
        destination=fields["destination"],
        protocol=fields["protocol"],
        url=fields["url"],
        header=fields["header"],
        description=fields["description"],
        failure_reason=None,
        expires_at=rfc3339(fields["expires_at"]),
        approval_expires_at=None if expires is None else rfc3339(expires),
        funded_by=fields["funded_by"],
        created_at=now,
        updated_at=now,
    )


# --- The credential, sealed to its payment.


def _context(payment_id: str) -> str:
    return f"seller-payment:{payment_id}"


def seal_made(sealer: Sealer, payment_id: str, made: Made) -> str:
    """The credential and the provider's reference of it, sealed: never kept in clear."""
    text = json.dumps({"value": made.value, "reference": made.reference})
    return sealer.seal(text, context=_context(payment_id))


def open_made(sealer: Sealer, payment_id: str, sealed: str) -> Made:
    opened = json.loads(sealer.open(sealed, context=_context(payment_id)))
    return Made(value=str(opened["value"]), reference=str(opened["reference"]))


# --- What a payment reads as.


def data_of(row: Any, **changed: Any) -> PaymentData:
    """A payment row as every read shows it (``changed``: what a move just set)."""
    values = {
        "id": row.id,
        "status": row.status,
        "amount_cents": int(row.amount_cents),
        "used_cents": None if row.used_cents is None else int(row.used_cents),
        "currency": row.currency,
        "payee": row.payee,
        "destination": row.destination,
        "protocol": row.protocol,
        "url": row.url,
        "header": row.header,
        "description": row.description,
        "failure_reason": row.failure_reason,
        "expires_at": rfc3339(row.expires_at),
        "approval_expires_at": _when(row.approval_expires_at),
        "funded_by": row.funded_by,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
    }
    return PaymentData(**{**values, **changed})


def _when(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


# What an authorization says when the merchant's own instrument paid: the catalogue's text says
# the wallet was debited, which is true of the default (``wallet``) alone.
OWN_MADE = (
    "Payment authorized: the merchant's own instrument (its saved card or payer key) pays the "
    "seller and the wallet is not debited; the key's limits count it. Retry the seller's "
    "request with data.value in the data.header header. Shown here and on a replay of this "
    "Idempotency-Key only; ended if the seller has not used it at data.expires_at"
)


def made_of(row: Any, value: str, now: datetime) -> PaymentMade:
    """The reply that authorized ``row`` with credential ``value``."""
    shown = data_of(row, status=AUTHORIZED, updated_at=rfc3339(now)).model_dump()
    return PaymentMade(**shown, value=value)


# --- The records that end a payment's request.

_READ = sa.select(_P)


async def read(conn: AsyncConnection, payment_id: str) -> Any:
    """The payment as it stands, in the caller's transaction."""
    return (await conn.execute(_READ.where(_P.c.id == payment_id))).one()


async def keep(conn: AsyncConnection, sealer: Sealer, row: Any, outcome: Outcome) -> None:
    """``outcome`` is what the payment's idempotency key answers from now on."""
    await idempotency.record(
        conn,
        sealer,
        merchant_id=row.merchant_id,
        api_key_id=row.api_key_id,
        env=row.env,
        key=row.idempotency_key,
        outcome=outcome,
    )


async def reschedule(
    conn: AsyncConnection, payment_id: str, due: datetime | None, now: datetime
) -> None:
    """The payment's work due at ``due`` (``None``: done), whoever held it: a worker's lease
    on it is over (its stamp moved on), so a try that raced this records nothing."""
    values: dict[str, Any] = {
        "status": QUEUE.due if due is not None else QUEUE.done,
        "next_attempt_at": due,
        "generation": _W.c.generation + 1,
        "updated_at": now,
    }
    await conn.execute(sa.update(_W).where(_W.c.payment_id == payment_id).values(values))


async def end_soon(conn: AsyncConnection, merchant_id: str, env: str, now: datetime) -> None:
    """The kill switch pulled on ``merchant_id``'s ``env``: every authorized payment's work
    due now, so each credential its provider can end is ended, and released, without waiting
    for its expiry (``holds``). A lease on one is over, as ``reschedule``'s."""
    authorized = sa.select(_P.c.id).where(
        _P.c.merchant_id == merchant_id, _P.c.env == env, _P.c.status == AUTHORIZED
    )
    values = {
        "status": QUEUE.due,
        "next_attempt_at": now,
        "generation": _W.c.generation + 1,
        "updated_at": now,
    }
    await conn.execute(
        sa.update(_W)
        .where(_W.c.payment_id.in_(authorized), _W.c.status == QUEUE.due)
        .values(values)
    )


async def authorize(
    conn: AsyncConnection, sealer: Sealer, row: Any, made: Made, now: datetime
) -> Outcome | None:
    """Pending payment ``row`` authorized with ``made``, in the caller's transaction: its
    credential sealed, ``payment.authorized``, the reply (the credential shown) kept under its
    idempotency key. ``None`` when it was no longer pending. Its work is the caller's to
    schedule (``reschedule``, or the worker's record of its lease)."""
    sealed = seal_made(sealer, row.id, made)
    told = await move(conn, row, AUTHORIZED, now, made_sealed=sealed)
    if told is None:
        return None
    shown = made_of(row, made.value, now)
    said = OWN_MADE if row.funded_by == OWN else None
    reply = Outcome(
        Code.PAYMENT_AUTHORIZED, shown, transaction_id=row.id, status=AUTHORIZED, message=said
    )
    await keep(conn, sealer, row, reply)
    return Outcome(
        reply.code,
        shown,
        transaction_id=row.id,
        status=AUTHORIZED,
        message=said,
        timestamp=reply.timestamp,
        deliveries=[*told, row.id],
    )


def refusal_of(exc: BaseException) -> ApiError:
    """What a payer's failure is answered with, in the product's words: its code (a provider's
    refusal or timeout), never the far side's text."""
    if isinstance(exc, ApiError) and exc.code in (
        Code.PAYMENT_PROVIDER_ERROR,
        Code.PAYMENT_PROVIDER_TIMEOUT,
        Code.PAYMENT_METHOD_UNSUPPORTED,
        Code.PAYMENT_CHALLENGE_EXPIRED,
    ):
        return ApiError(exc.code)
    if isinstance(exc, TimeoutError):
        return ApiError(Code.PAYMENT_PROVIDER_TIMEOUT)
    return ApiError(Code.PAYMENT_PROVIDER_ERROR)


async def fail(
    conn: AsyncConnection, sealer: Sealer, row: Any, refused: ApiError, now: datetime
) -> Outcome | None:
    """Pending payment ``row`` failed, in the caller's transaction: released (the wallet and
    the windows given the amount back), ``payment.failed``, the refusal kept under its
    idempotency key. ``None`` when it was no longer pending. Its work is the caller's to end."""
    reason = f"{int(refused.code)}: {CATALOGUE[refused.code].message}"[:300]
    told = await move(conn, row, FAILED, now, reason=reason)
    if told is None:
        return None
    data = {"id": row.id, "status": FAILED, "released_cents": int(row.amount_cents)}
    reply = ApiError(refused.code, data=data, transaction_id=row.id, status=FAILED).outcome()
    await keep(conn, sealer, row, reply)
    return Outcome(
        reply.code,
        data,
        transaction_id=row.id,
        status=FAILED,
        message=reply.message,
        timestamp=reply.timestamp,
        deliveries=told,
    )
