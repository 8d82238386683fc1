"""``balance.low``: once per crossing below the merchant's threshold, whatever moved the money."""

from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import BigInteger, ColumnElement

from .. import outbox
from ..store.compose import Refs, Step, param

__all__ = ["BALANCE_LOW", "LowParams", "balance_low_steps", "low_data", "low_params"]

BALANCE_LOW = "balance.low"


def crossed(after: ColumnElement[Any], taken: ColumnElement[Any]) -> ColumnElement[bool]:
    """Only a change that took the wallet from at or above ``:threshold`` to below it: staying
    below, or refilling, is no crossing."""
    threshold = param("threshold", BigInteger)
    return (after < threshold) & (after + taken >= threshold)


def low_data(after: Any, threshold: int) -> dict[str, Any]:
    return {"balance_cents": after, "low_balance_threshold_cents": threshold, "currency": "USD"}


class LowParams(TypedDict):
    """What ``balance_low_steps`` binds (its event steps are called ``low``)."""

    threshold: int
    low_id: str
    low_type: str
    low_payload: str
    low_prefix: str
    low_trigger: str


def low_params(env: str, threshold: int, now: datetime) -> LowParams:
    """The parameters of ``balance_low_steps``; the balance itself is filled in by the write."""
    event_id = outbox.new_event_id()
    data = low_data(outbox.BALANCE_MARK, threshold)
    return {
        "threshold": threshold,
        "low_id": event_id,
        "low_type": BALANCE_LOW,
        "low_payload": outbox.event_body(event_id, BALANCE_LOW, now, env, data),
        "low_prefix": outbox.delivery_prefix(event_id),
        "low_trigger": "auto",
    }


def balance_low_steps(debit: str) -> list[Step]:
    """The event and its deliveries when step ``debit`` (a conditional debit of ``:taken``,
    returning ``balance_cents``) crossed the threshold."""

    def after(refs: Refs) -> ColumnElement[Any]:
        return refs.col(debit, "balance_cents")

    return outbox.event_steps(
        "low",
        after=lambda refs: crossed(after(refs), param("taken", BigInteger)),
        balance_after=after,
    )
