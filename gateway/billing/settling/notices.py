"""A channel's notifications: verified by its provider, recorded once, settled as the order's
transitions, the same for every channel, Stripe's events included (its webhook's paths hand
them here).

``handle`` takes a notification as it arrived (``channels.Inbound``: the body already bounded
by the provider's ``body_limit``). The provider verifies it with the channel's live credentials
before anything in it is acted on (staging pays every channel through the sandbox, so no
provider notifies about a staging order): over the raw body or query, before anything is parsed,
except MyFatoorah's, whose signature is over fields of its JSON, so its bounded body is parsed
to find them. Then it parses it into a ``Notice``. In one transaction the notice's
``event_id`` is recorded for the channel (``payment_notices``: a repeat finds the row and
changes nothing) and the order is settled by the functions reconciliation uses too
(``orders.complete_order``, ``fail_order``, ``hold_open``): whichever report gets
there first credits the order, once. A subscription's report (``Notice.subscription``) goes to
``subscriptions.renewals.on_period``: a paid period credited once per invoice id, its state
moved, by one rule for every channel. A notice about an order of another
channel or environment, or of another merchant than the notice names (Creem's names one),
credits nothing and is refused (a provider whose ``notice_codes`` name no ``order_mismatch``
leaves it to the order's transitions, which answer ``mismatch``); one whose amount, currency
or provider's id (MyFatoorah's signed invoice, which names no merchant) differs from the
order's leaves the order pending for an operator (``mismatch``).

Every refusal is an ``ApiError`` with a code of its own (the provider's ``notice_codes``), its
reason logged once here and never the body or a signature; the provider's acknowledgement
(``Provider.ack``) answers a notice taken, or one taken before, or where it has none the
envelope says the event id and what it did (``Taken.reply``).
"""

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ...store.engine import Database
from ...store.expressions import upsert
from ...store.models import FundingOrder, PaymentNotice, table_of
from ...values.clock import utcnow
from ...values.code_names import Code
from ...values.marking import marked
from ...values.outcome import ApiError, Outcome
from ...values.settings import Settings
from ..channels import offering
from ..channels import registry as channels
from ..channels.registry import Ack, Inbound, Notice, Provider
from ..orders import (
    EXPIRED_REASON,
    Paid,
    Settlement,
    complete_order,
    fail_order,
    hold_open,
    note_provider,
    payment_matches,
)
from ..subscriptions.renewals import on_period

__all__ = ["Taken", "handle", "settle"]

log = logging.getLogger(__name__)

_N = table_of(PaymentNotice)
_O = table_of(FundingOrder)

FAILED_REASON = marked("payment failed")  # shown in the reader's words (``said``)
# What the order's ``provider_status`` says of a notice's state.
_NOTED = {"paid": "paid", "failed": "failed", "expired": "expired", "pending": "unpaid"}


@dataclass(frozen=True, slots=True)
class Taken:
    """A notification taken (or taken before): what it did, and the acknowledgement the
    provider expects, which the route answers in place of an envelope."""

    channel: str
    event_id: str
    result: str
    ack: Ack | None

    def reply(self) -> dict[str, str]:
        """What the envelope says where the provider expects no ``ack`` of its own."""
        return {"event_id": self.event_id, "outcome": self.result}


def _refused(provider: Provider[Any], code: Code, reason: str) -> ApiError:
    log.warning("%s notification refused (%s): %s", provider.name, code.name, reason)
    return ApiError(code)


async def settle(
    conn: AsyncConnection,
    provider: Provider[Any],
    notice: Notice,
    now: Any,
    *,
    again: bool = False,
) -> Settlement:
    """What ``notice`` does to its order, in the caller's transaction; the order must be this
    provider's, its merchant's (when the notice names one) and live. ``again``: its report was
    taken before, and did not match its order then."""
    if notice.subscription is not None:
        # A subscription's report, whatever the notice says of an order's payment.
        return await on_period(conn, provider.name, notice, now)
    if notice.state == "ignored":
        return Settlement("ignored")
    if notice.order_id is None:
        log.warning("%s %s without an order id", provider.name, notice.kind)
        return Settlement("unknown_order")
    order = (
        await conn.execute(
            select(_O.c.provider, _O.c.merchant_id, _O.c.env).where(_O.c.id == notice.order_id)
        )
    ).first()
    if order is None:
        if not again:
            log.warning("%s notification for unknown order %s", provider.name, notice.order_id)
        return Settlement("unknown_order")
    mismatch = provider.notice_codes.order_mismatch
    if mismatch is not None and (
        order.provider != provider.name
        or order.env != "live"
        or (notice.merchant_id is not None and notice.merchant_id != order.merchant_id)
    ):
        raise _refused(provider, mismatch, f"order {notice.order_id}")
    order_id = notice.order_id
    if notice.state == "paid":
        paid = Paid(provider.name, notice.session_id, notice.amount_minor, notice.currency)
        if not notice.amount_signed and not await payment_matches(conn, order_id, paid):
            # Anyone who saw the signed report can resend it with another amount: no evidence
            # that money moved, so no operator's alarm; said once, at the first copy.
            if not again:
                log.warning(
                    "%s notification for order %s: its unsigned amount is not the order's; "
                    "left for the genuine report",
                    provider.name,
                    order_id,
                )
            return Settlement("mismatch")
        await note_provider(conn, order_id, "paid", now, payment_id=notice.payment_id)
        return await complete_order(conn, order_id, paid, now)
    if notice.state == "pending":
        await hold_open(conn, order_id, notice.session_id, provider=provider.name)
        await note_provider(conn, order_id, "unpaid", now, payment_id=notice.payment_id)
        return Settlement("awaiting_payment")
    await note_provider(conn, order_id, _NOTED[notice.state], now, payment_id=notice.payment_id)
    reason = notice.reason or (EXPIRED_REASON if notice.state == "expired" else FAILED_REASON)
    return await fail_order(
        conn, order_id, reason, now, provider=provider.name, status=notice.state
    )


_STATES = frozenset({"paid", "failed", "expired", "pending", "ignored"})
# What a report whose unsigned values were changed on the way settles as.
_UNMATCHED = frozenset({"mismatch", "unknown_order"})


def _verified(provider: Provider[Any], ctx: channels.Context[Any], inbound: Inbound) -> Notice:
    """The provider's verdict, then its parse; whatever else a provider's code raises on what
    an outsider sent is that outsider's refusal, never a 500."""
    codes = provider.notice_codes
    try:
        provider.verify(ctx, inbound)
    except channels.NoticeRefused as exc:
        raise _refused(provider, exc.code or codes.refused, exc.reason) from None
    except Exception as exc:
        reason = f"verify raised {type(exc).__name__}"
        raise _refused(provider, codes.refused, reason) from None
    try:
        notice = provider.parse(ctx, inbound)
    except channels.NoticeMalformed as exc:
        raise _refused(provider, codes.malformed, exc.reason) from None
    except Exception as exc:
        reason = f"parse raised {type(exc).__name__}"
        raise _refused(provider, codes.malformed, reason) from None
    amount = notice.amount_minor
    if (
        not isinstance(notice.event_id, str)
        or not 0 < len(notice.event_id) <= 255
        or notice.state not in _STATES
        or (amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)))
    ):
        raise _refused(provider, codes.malformed, "not a notice the gateway takes")
    return notice


async def _unmatched_before(conn: AsyncConnection, provider: Provider[Any], notice: Notice) -> bool:
    """Whether this report was taken before with unsigned values (its amount, or the order id
    an account without ``ExternalIdentifier`` sends unsigned) that matched no order: a copy
    changed on the way must not take the genuine report's place, so that one is settled when
    it comes (once: the order moves from pending once)."""
    if notice.amount_signed:
        return False
    outcome = (
        await conn.execute(
            select(_N.c.outcome).where(
                _N.c.channel == provider.name, _N.c.event_id == notice.event_id
            )
        )
    ).scalar_one_or_none()
    return outcome in _UNMATCHED


async def handle(db: Database, settings: Settings, channel: str, inbound: Inbound) -> Outcome:
    """Verify, then record the notice and act on it in one transaction: a repeated event id
    finds its row and does nothing; a failure rolls both back so the provider's retry can
    succeed."""
    provider = offering.known(channel)
    credentials = await offering.live_credentials(db, settings, provider)
    credentials = credentials or provider.notice_credentials(settings)
    if credentials is None:
        raise _refused(provider, provider.notice_codes.not_configured, "no live credentials")
    now = utcnow()
    async with offering.context(settings, "live", credentials, now=now) as ctx:
        notice = _verified(provider, ctx, inbound)
    order_ref = (notice.order_id or "")[:40] or None
    try:
        async with db.transaction() as conn:
            recorded = (
                await conn.execute(
                    upsert(_N)
                    .values(
                        channel=provider.name,
                        event_id=notice.event_id,
                        kind=notice.kind[:100],
                        order_id=order_ref,
                        outcome="processing",
                        received_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=[_N.c.channel, _N.c.event_id])
                    .returning(_N.c.event_id)
                )
            ).first()
            again = recorded is None and await _unmatched_before(conn, provider, notice)
            if recorded is None and not again:
                settled = Settlement("duplicate")
            else:
                settled = await settle(conn, provider, notice, now, again=again)
                await conn.execute(
                    update(_N)
                    .where(_N.c.channel == provider.name, _N.c.event_id == notice.event_id)
                    .values(outcome=settled.result)
                )
    except ApiError:
        raise
    except Exception:
        log.exception("%s notification %s not processed", provider.name, notice.event_id)
        raise ApiError(provider.notice_codes.not_processed) from None
    taken = Taken(provider.name, notice.event_id, settled.result, provider.ack(notice))
    return Outcome(Code.SUCCESS, taken, deliveries=settled.deliveries)
