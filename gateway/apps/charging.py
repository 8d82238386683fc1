"""The charge's plan and its parameters: the contract between the charge's steps and the one
function that fills them (``charge_params``), the charge's part of every payment's
(``payments.plan``).

A charge is a payment as a send is: the payer's conditional debit, its count in the consent's
windows, then its own writes (the payee's credit and the charge row), both ledger entries, the
payer's ``charge.succeeded``, ``balance.low`` on crossing, and the payee's
``charge.succeeded`` (``paid``), all one plan, so a charge short of money or past a window
writes nothing. Every charge supplies ``Paying``'s part of ``Charging``, ``BalanceLow``,
``Announcing``, ``PayeeEvent`` and its windows' names; its plan is built with exactly those
(``given``).
"""

import functools
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypedDict

import sqlalchemy as sa

from .. import outbox
from ..callers import Caller
from ..ledger import alerts, grants
from ..ledger import service as ledger
from ..payments import plan
from ..payments.plan import DEBIT
from ..policies import rules, spend
from ..store.compose import Plan, Refs, Step
from ..store.expressions import const, from_rows, param
from ..store.models import Charge, OAuthApp, table_of
from ..store.raw import Construct, Raw, Statement
from ..store.types import UTCDateTime
from ..values.clock import new_id
from ..values.code_names import Code
from ..values.outcome import ApiError

__all__ = [
    "CHARGE_SUCCEEDED",
    "Charging",
    "Payee",
    "PayeeEvent",
    "Prepared",
    "charge_params",
    "charge_plan",
    "charge_steps",
    "event_data",
    "given",
    "payee",
]

CHARGE_SUCCEEDED = "charge.succeeded"
_CH = table_of(Charge)
_A = table_of(OAuthApp)
_INT = sa.BigInteger()
_PAYEE = "payee_merchant_id"  # whose the payee's event is (``outbox.event_steps(merchant=)``)


class Charging(plan.Paying):
    """What every charge binds: every payment's (the payer's debit, its spend and entries), the
    payee's credit and the charge row."""

    app_id: str
    payee_merchant_id: str
    payee_wallet_id: str  # the app owner's merchant wallet in ``env``, credited
    description: str
    metadata_json: str | None  # JSON text, its keys sorted


class PayeeEvent(TypedDict):
    """The payee's ``charge.succeeded`` (the event steps called ``paid``)."""

    paid_id: str
    paid_type: str
    paid_payload: str
    paid_prefix: str
    paid_trigger: str


def _insert_charge(refs: Refs) -> Construct:
    row = {
        "id": param("txn_id", sa.String),
        "env": param("env", sa.String),
        "app_id": param("app_id", sa.String),
        "key_id": param("api_key_id", sa.String),
        "payer_merchant_id": param("merchant_id", sa.String),
        "payee_merchant_id": param(_PAYEE, sa.String),
        "amount_cents": param("amount", _INT),
        "refunded_cents": sa.literal_column("0"),
        "description": param("description", sa.String),
        "metadata_json": param("metadata_json", sa.Text),
        "created_at": param("now", UTCDateTime()),
    }
    return from_rows(sa.insert(_CH), [row], where=refs.after(DEBIT))


def charge_steps(windows: Sequence[str], claimed: bool = False) -> list[Step]:
    """The charge's writes: a payment's, with the payee's credit and the charge row among its
    own, and the payee's event after."""
    payee_wallet = param("payee_wallet_id", sa.String)
    debit = ledger.Line(ledger.merchant_wallet(), -ledger.amount(), const("charge_debit"))
    credit = ledger.Line(payee_wallet, ledger.amount(), const("charge_credit"))

    def lines(refs: Refs) -> list[ledger.Line]:
        return [
            *ledger.numbered(
                refs.col(DEBIT, ledger.COUNT),
                ledger.given_back(debit, refs.col(DEBIT, ledger.THROUGH)),
            ),
            *ledger.numbered(refs.col("payee", ledger.COUNT), credit),
        ]

    return plan.payment_steps(
        windows,
        claimed=claimed,
        writes=[
            Step("payee", lambda r: ledger.wallet_credit(r, wallet=payee_wallet, after=DEBIT)),
            Step(
                "payee_grant",
                lambda r: grants.granted(
                    r, wallet=payee_wallet, number=r.col("payee", ledger.COUNT), after="payee"
                ),
            ),
            Step("charge", _insert_charge),
        ],
        lines=lines,
        then=outbox.event_steps("paid", after=lambda r: r.after(DEBIT), merchant=_PAYEE),
        locks=[
            # Both merchants' wallets, in the order of their ids: a charge the other way waits.
            Step(
                "wallets",
                lambda _: ledger.wallets_locked(ledger.merchant_wallet(), payee_wallet),
                lock=True,
            ),
            *grants.settle_steps(payee_wallet, name="payee_settle"),
        ],
    )


def given(windows: Sequence[str], claimed: bool = False) -> frozenset[str]:
    """The names a charge counted in ``windows`` (``claimed``: its key's claim first)
    supplies."""
    parts = (Charging, plan.Announcing, PayeeEvent)
    return plan.given(windows, *(part.__required_keys__ for part in parts), claimed=claimed)


@functools.cache
def charge_plan(windows: tuple[str, ...], claimed: bool = False) -> Plan:
    """The plan of ``charge_steps``, built with the names a charge supplies (``given``): a step
    binding any other fails here."""
    return Plan(charge_steps(windows, claimed), given=given(windows, claimed))


class Prepared(NamedTuple):
    charge: Charging  # the charge's own part, which its reply is read from
    params: dict[str, Any]  # the run's: every part, and its windows' names


class Payee(NamedTuple):
    merchant_id: str  # the app owner's merchant
    wallet_id: str  # its wallet in the charge's environment


_OWNER = Statement.of(sa.select(_A.c.merchant_id).where(_A.c.id == param("app_id", sa.String)))


async def payee(tx: Raw, app_id: str, env: str, now: datetime) -> Payee:
    """Whom app ``app_id``'s charges pay, in the charge's transaction; its wallet in ``env`` made
    on its first charge."""
    owner = await tx.fetchrow(_OWNER, {"app_id": app_id})
    if owner is None or owner["merchant_id"] is None:
        # An app a client registered itself has no merchant to be paid.
        raise ApiError(Code.CHARGES_FOR_APPS_ONLY)
    merchant_id = str(owner["merchant_id"])
    wallet_id, _ = await ledger.ensure_wallet(tx, env, merchant_id, now)
    return Payee(merchant_id, wallet_id)


def event_data(charge: dict[str, Any]) -> dict[str, Any]:
    """What both merchants' ``charge.succeeded`` (and ``charge.refunded``) say of ``charge``."""
    return {key: charge[key] for key in ("id", "app_id", "amount_cents", "description", "status")}


def charge_params(
    caller: Caller,
    app_id: str,
    paid: Payee,
    amount: int,
    description: str,
    metadata: dict[str, str] | None,
    counted: Sequence[rules.Counted],
    now: datetime,
) -> Prepared:
    """The run's parameters: exactly the names ``given`` names for ``counted``'s windows."""
    charge_id = new_id("ch")
    fields: Charging = {
        "txn_id": charge_id,
        "now": now,
        "env": caller.env,
        "merchant_id": caller.merchant_id,
        "api_key_id": caller.key_id,
        "wallet_id": caller.wallet_id,
        "amount": amount,
        "taken": amount,
        "reference": charge_id,
        "memo": f"charge by app {app_id}: {description}"[:500],
        "app_id": app_id,
        "payee_merchant_id": paid.merchant_id,
        "payee_wallet_id": paid.wallet_id,
        "description": description,
        "metadata_json": None if metadata is None else json.dumps(metadata, sort_keys=True),
    }
    told = event_data(
        {
            "id": charge_id,
            "app_id": app_id,
            "amount_cents": amount,
            "description": description,
            "status": "succeeded",
        }
    )
    # Event ids sort in the order the events happened: the payer's, ``balance.low``, the payee's.
    announcing = outbox.event_params(CHARGE_SUCCEEDED, now, caller.env, told)
    low = alerts.low_params(caller.env, caller.alert_levels, now)
    theirs = outbox.event_params(CHARGE_SUCCEEDED, now, caller.env, told)
    payee_event: PayeeEvent = {
        "paid_id": theirs["event_id"],
        "paid_type": theirs["event_type"],
        "paid_payload": theirs["event_payload"],
        "paid_prefix": theirs["event_prefix"],
        "paid_trigger": theirs["event_trigger"],
    }
    params = {**fields, **low, **announcing, **payee_event, **spend.spend_params(counted)}
    return Prepared(fields, params)
