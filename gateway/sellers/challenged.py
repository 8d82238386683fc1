"""A seller's challenge is paid once by a merchant in an environment, whatever the idempotency
key or the key that asks: the claim a payment's write makes on it.

What makes two challenges the same is its protocol's to say (``Demand.once``): an MPP
challenge's id; an x402 offer's whole requirement and resource (its ``payTo``, amount, network,
asset, time to pay and ``extra``, which carries an offer's own nonce or expiry where its seller
put one). A demand without one (a protocol whose challenges have no identity) claims nothing.

The claim is one conditional write in the debit's transaction, after the payment's row
(``claim``): an insert of (merchant, environment, challenge) that on a conflict takes the row
over only while the first claim no longer stands (its challenge expired, or its payment failed,
denied or expired: nothing was paid). Of any number of payments racing for one challenge, on
either store, one writes the claim; each other finds it written, is refused with the first
payment's id and status (``PAYMENT_CHALLENGE_PAID``), and its whole transaction, the debit and
its idempotency key's claim with it, is undone. A request that says ``buy_again`` (an offer
that may be bought again, x402's) takes the claim over whatever it holds.
"""

import hashlib
from datetime import datetime

import sqlalchemy as sa

from ..callers import Caller
from ..protocols.base import Demand
from ..store.expressions import param, upsert
from ..store.models import SellerPayment, SellerPaymentChallenge, table_of
from ..store.raw import Raw, Statement
from ..store.types import UTCDateTime
from ..values.code_names import Code
from ..values.outcome import ApiError
from .states import DENIED, EXPIRED, FAILED

__all__ = ["claim", "key_of"]

_C = table_of(SellerPaymentChallenge)
_P = table_of(SellerPayment)
# What a claim's payment ended as when nothing was paid: the challenge may be paid again.
_UNPAID = (FAILED, DENIED, EXPIRED)
# The claim's payment ended so, read by its id (SQLAlchemy would not correlate an EXISTS with
# the row an ``ON CONFLICT`` updates).
_UNPAID_CLAIM = (
    "EXISTS (SELECT 1 FROM seller_payments AS paid"
    " WHERE paid.id = seller_payment_challenges.payment_id"
    " AND paid.status IN ('failed', 'denied', 'expired'))"
)
assert all(f"'{status}'" in _UNPAID_CLAIM for status in _UNPAID)


def key_of(demand: Demand) -> str | None:
    """The stored key of ``demand``'s challenge: a digest of its protocol and identity."""
    if demand.once is None:
        return None
    return hashlib.sha256(f"{demand.protocol}\n{demand.once}".encode()).hexdigest()


def _claiming(again: bool) -> Statement:
    row = {
        "merchant_id": param("merchant_id", sa.String),
        "env": param("env", sa.String),
        "challenge_key": param("challenge_key", sa.String),
        "payment_id": param("payment_id", sa.String),
        "expires_at": param("expires_at", UTCDateTime()),
    }
    stmt = upsert(_C).values(row)
    unpaid = sa.text(_UNPAID_CLAIM)
    stands = None if again else sa.or_(_C.c.expires_at <= param("now", UTCDateTime()), unpaid)
    return Statement.of(
        stmt.on_conflict_do_update(
            index_elements=[_C.c.merchant_id, _C.c.env, _C.c.challenge_key],
            set_={"payment_id": stmt.excluded.payment_id, "expires_at": stmt.excluded.expires_at},
            where=stands,
        ).returning(_C.c.payment_id)
    )


_CLAIM, _CLAIM_AGAIN = _claiming(False), _claiming(True)
_FIRST = Statement.of(
    sa.select(_P.c.id, _P.c.status)
    .join(_C, _C.c.payment_id == _P.c.id)
    .where(
        _C.c.merchant_id == param("merchant_id", sa.String),
        _C.c.env == param("env", sa.String),
        _C.c.challenge_key == param("challenge_key", sa.String),
    )
)


async def claim(
    tx: Raw, caller: Caller, demand: Demand, payment_id: str, now: datetime, *, again: bool
) -> None:
    """Payment ``payment_id`` (written in ``tx``) claims ``demand``'s challenge for the caller's
    merchant and environment; ``again``: over a claim that stands (``buy_again``, where the
    protocol allows it). Refused (``PAYMENT_CHALLENGE_PAID``, the first payment's id and status
    in its data) when another payment's claim stands: the caller's transaction is then
    undone."""
    key = key_of(demand)
    if key is None:
        return
    params = {
        "merchant_id": caller.merchant_id,
        "env": caller.env,
        "challenge_key": key,
        "payment_id": payment_id,
        "expires_at": demand.expires_at,
        "now": now,
    }
    statement = _CLAIM_AGAIN if again and demand.again else _CLAIM
    if await tx.fetch(statement, params):
        return
    first = await tx.fetchrow(_FIRST, params)
    data = {"payment_id": first["id"], "status": first["status"]} if first else None
    raise ApiError(Code.PAYMENT_CHALLENGE_PAID, data=data)
