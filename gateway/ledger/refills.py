"""An auto top-up falls due: once per crossing below the wallet's armed threshold, written by
the debit that crossed it, whatever debited (a send, an app's charge).

The threshold is kept on the wallet's own row (``wallets.auto_top_up_below``, null while no
auto top-up is armed), so the debit's ``UPDATE … RETURNING`` reads it with the balance and says
whether it crossed (``crossed``, returned as ``DUE``). Only then is the run written
(``refill_steps``): in order (SQLite) the step is not even run otherwise, so a debit that does
not cross costs no statement more; in the one statement (PostgreSQL) its ``WHERE`` is false.
At most one run is due per wallet, by the runs' partial unique index, so concurrent crossings
(the balance refilled and crossed again while a charge is in flight) write one, and the others
nothing (``ON CONFLICT DO NOTHING``).
"""

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, String, Table, and_, literal

from ..store.compose import Refs, Step
from ..store.expressions import const, from_rows, param, upsert
from ..store.models import AutoTopUpRun, table_of
from ..store.types import UTCDateTime

__all__ = ["DUE", "PREFIX", "STEP", "crossed", "refill_steps"]

_R = table_of(AutoTopUpRun)

DUE = "auto_top_up_due"  # what the debit returns: whether it crossed the armed threshold
STEP = "auto_top_up"  # the step that writes the run, returning its id
PREFIX = "atu_"  # a run's id: this and the payment's id, so a payment writes one at most


def crossed(wallets: Table) -> ColumnElement[Any]:
    """In the debit's ``RETURNING``: the balance after it is under the armed threshold, and
    before it (``:taken`` more) was not. Staying under, or no threshold armed, is no crossing."""
    after, below = wallets.c.balance_cents, wallets.c.auto_top_up_below
    taken = param("taken", BigInteger)
    return and_(below.is_not(None), after < below, after + taken >= below)


def refill_steps(debit: str) -> list[Step]:
    """The run, due now, when step ``debit`` (a conditional debit of the payer's wallet
    ``:wallet_id``) crossed its armed threshold; binds what every payment supplies."""

    def build(refs: Refs) -> Any:
        now = param("now", UTCDateTime())
        row = {
            "id": literal(PREFIX, String) + param("txn_id", String),
            "wallet_id": param("wallet_id", String),
            "merchant_id": param("merchant_id", String),
            "env": param("env", String),
            "status": const("due"),
            "attempts": literal(0),
            "generation": literal(0),
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        where = refs.col(debit, DUE) == literal(True)
        return from_rows(upsert(_R), [row], where=where).on_conflict_do_nothing().returning(_R.c.id)

    return [Step(STEP, build, when=(debit, DUE))]
