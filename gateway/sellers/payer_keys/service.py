"""The operations on a merchant's payer keys, as every door runs them (REST's
``/payments/payer-keys``, the dashboard's Wallet page): set one, imported or made; list them;
remove one. Each is the merchant's own act, as a saved card's is: a key that can spend on chain
is set by a key of its own with the ``billing`` scope, or by an owner on the dashboard (whose
caller holds every scope; the role table gates the form), never by an app's token or the key an
app manages, whatever it holds.

One key a protocol and environment. Setting one where one is set is refused
(``PAYER_KEY_EXISTS``): the key it would replace may be the only way to what its address holds
(a made key is never shown), so the merchant removes it first, on purpose. Two racing to set
the first find the table's primary key between them: one is set, the other refused."""

import asyncio
from datetime import datetime
from typing import Any

from keys import Sealer

from ...callers import Caller, require_scope
from ...policies.model import Scope
from ...protocols import payer_keys as stored
from ...protocols import registry
from ...protocols.base import Payer
from ...store.engine import Database
from ...values.clock import rfc3339
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from .schemas import PayerKeyData, PayerKeySet

__all__ = ["SCOPE", "keyed_protocols", "listed", "remove", "set_key"]

SCOPE: Scope = "billing"


def _merchants_own(caller: Caller) -> None:
    if caller.app_id is not None or caller.managed:
        raise ApiError(Code.PAYER_KEY_FOR_MERCHANT_ONLY, data={"scope": SCOPE})
    require_scope(caller, SCOPE)


def _invalid(field: str, why: str) -> ApiError:
    error = {"loc": [field], "type": "value_error", "msg": why}
    return ApiError(Code.VALIDATION_FAILED, f"{field}: {why}", data={"errors": [error]})


def keyed_protocols() -> list[str]:
    """The protocols whose payer signs with a key of the merchant's, in the registry's order."""
    return [p.name for p in registry.payers() if p.keyed]


def _payer(protocol: str) -> Payer | None:
    found = registry.payer(protocol)
    return found if found is not None and found.keyed else None


def _data(row: Any) -> PayerKeyData:
    return PayerKeyData(
        protocol=row.protocol, env=row.env, address=row.address, created_at=rfc3339(row.created_at)
    )


async def set_key(
    db: Database, sealer: Sealer, caller: Caller, body: PayerKeySet, now: datetime
) -> Outcome:
    """The merchant's key for ``body.protocol`` in the caller's environment: the one given, or
    a new one; its address in the reply, its secret sealed and never shown."""
    _merchants_own(caller)
    payer = _payer(body.protocol)
    if payer is None:
        why = f"no payer keeps a key for this protocol: expected one of {keyed_protocols()}"
        raise _invalid("protocol", why)
    try:
        # Off the loop: the first key of a process imports its protocol's signers (seconds).
        key = await asyncio.to_thread(payer.own_key, body.private_key)
    except ValueError as exc:
        raise _invalid("private_key", str(exc)) from None
    async with db.transaction() as conn:
        row = await stored.added(conn, sealer, caller.merchant_id, caller.env, payer.name, key, now)
    if row is None:
        raise ApiError(Code.PAYER_KEY_EXISTS, data={"protocol": payer.name, "env": caller.env})
    return Outcome(Code.CREATED, _data(row))


async def listed(db: Database, caller: Caller) -> Outcome:
    """The merchant's payer keys in the caller's environment: their addresses."""
    _merchants_own(caller)
    async with db.read() as conn:
        rows = await stored.listed(conn, caller.merchant_id, caller.env)
    return Outcome(Code.SUCCESS, [_data(row) for row in rows])


async def remove(db: Database, caller: Caller, protocol: str) -> Outcome:
    """The merchant's key for ``protocol`` in the caller's environment forgotten: its wallet
    pays that protocol no more (staging: with its test key again)."""
    _merchants_own(caller)
    async with db.transaction() as conn:
        gone = await stored.removed(conn, caller.merchant_id, caller.env, protocol)
    if not gone:
        raise ApiError(Code.PAYER_KEY_NOT_FOUND)
    return Outcome(Code.DELETED, None)
