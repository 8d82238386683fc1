"""Funding orders: checkout (Stripe, or the staging sandbox), completion, failure and expiry.

An order is settled by one conditional UPDATE of its status (``pending`` → ``completed``,
``failed`` or ``expired``) in the same transaction as what follows from it: the wallet credit,
ledger entry and outbox events, or the coupon use given back. Of a payment, a cancel, a Stripe
event and the expiry sweep racing for one order, exactly one finds it pending; every other finds
nothing to do and says what the order became.

A pending checkout can be paid until its ``expires_at``: the sandbox's TTL setting, or the Stripe
session's own expiry. The sandbox's Pay button is the moment of payment, so from then on it is
refused (``ORDER_EXPIRED``) by the same conditional UPDATE. A live order is paid on Stripe's page,
which stops taking payment at that same instant; Stripe's event about a payment may come later
(it retries for days), so a paid Stripe event credits the order whatever the clock says here,
even one expired meanwhile (taking its coupon use again: the payment happened).

Every channel's payment ends in ``complete_order``, whoever reports it (a notification, a
Stripe event, the payer's return, a check, the reconciliation sweep, the sandbox's Pay): the
winner of that UPDATE credits the wallet (``wallet.credited``), numbers the receipt and writes
``order.paid``, so each happens once per order, or not at all if the transaction rolls back.

Expired orders are found by the worker's sweep (``expire_due``), and by a checkout that finds its
coupon's uses all held, so that a use is never kept by an order that can no longer be paid.

Coupon uses are counted per environment (``coupon_uses``): a staging sandbox checkout never takes
a use a live payer could have had. A use is one conditional upsert, so a limit holds however many
checkouts race.
"""

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import outbox
from ..callers import Caller
from ..mail.links import public_base
from ..store.compose import upsert
from ..store.db import Database
from ..store.models import (
    Coupon,
    CouponUse,
    FundingOrder,
    Merchant,
    MerchantUser,
    Pack,
    User,
    table_of,
)
from ..values.clock import new_id, rfc3339, utcnow
from ..values.codes import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from ..webhooks.endpoints import allows_loopback
from ..webhooks.urls import UrlRefused, check_return_url, origin_of
from . import channels, order_states, payments, pricing, providers, receipts
from .funding import credit_merchant
from .pricing import MIN_CHARGE_CENTS
from .providers import PaymentRequest
from .providers.sandbox import sandbox_token
from .providers.stripe_checkout import SESSION_TTL as STRIPE_SESSION_TTL
from .schemas import (
    CheckoutData,
    CheckoutRequest,
    InvoiceRequest,
)
from .service import order_data, orders_select

__all__ = [
    "EXPIRED_REASON",
    "MIN_CHARGE_CENTS",
    "PAID",
    "STRIPE_SESSION_TTL",
    "Paid",
    "Settlement",
    "check_coupon",
    "check_return_urls",
    "checkout",
    "complete_order",
    "coupon_uses",
    "done_url",
    "expire_due",
    "fail_order",
    "hold_open",
    "invoice",
    "landed_order",
    "landing",
    "lost",
    "note_provider",
    "order_memo",
    "order_prices",
    "sandbox_token",
]

log = logging.getLogger(__name__)

_P = table_of(Pack)
_C = table_of(Coupon)
_U = table_of(CouponUse)
_O = table_of(FundingOrder)
_M = table_of(Merchant)
_MU = table_of(MerchantUser)
_US = table_of(User)

EXPIRED_REASON = "checkout expired"
CANCELLED_REASON = "checkout cancelled"
PAID = order_states.PAID
# Orders expired per transaction of the sweep.
EXPIRE_BATCH = 500


@dataclass(slots=True)
class Settlement:
    """What handling a payment signal did to an order, inside the caller's transaction: the
    result (recorded against a Stripe event), the order's status after it (when it was read),
    and the deliveries the operation's ``Outcome`` carries to wake the workers for after commit."""

    result: str
    deliveries: list[str] = field(default_factory=list)
    order_status: str | None = None


# --- coupons ---


async def coupon_uses(conn: AsyncConnection, coupon_ids: list[str]) -> dict[str, dict[str, int]]:
    """Uses held per coupon and env: ``{coupon id: {"staging": n, "live": n}}``."""
    found: dict[str, dict[str, int]] = {c: {"staging": 0, "live": 0} for c in coupon_ids}
    if coupon_ids:
        rows = await conn.execute(
            select(_U.c.coupon_id, _U.c.env, _U.c.uses).where(_U.c.coupon_id.in_(coupon_ids))
        )
        for row in rows:
            found[row.coupon_id][row.env] = int(row.uses)
    return found


async def _all_held(conn: AsyncConnection, coupon: Any, env: str, now: datetime) -> bool:
    """Whether the env's uses are all held by orders paid or still payable: the checkout's
    look before it asks Stripe for a session. Taking the use decides, in the transaction."""
    if coupon.max_uses is None:
        return False
    held = (await coupon_uses(conn, [coupon.id]))[coupon.id][env]
    if held < coupon.max_uses:
        return False
    due = (
        await conn.execute(
            select(func.count()).where(
                _O.c.coupon_id == coupon.id,
                _O.c.env == env,
                _O.c.status == "pending",
                _O.c.expires_at <= now,
            )
        )
    ).scalar_one()
    return bool(held - int(due) >= coupon.max_uses)


async def _take_use(conn: AsyncConnection, coupon_id: str, env: str, limit: int | None) -> bool:
    """One use more for ``env``, if fewer than ``limit`` are held: a conditional upsert, so the
    limit holds however many checkouts race (the loser's condition is judged on the row as the
    winner left it)."""
    stmt = (
        upsert(_U)
        .values(coupon_id=coupon_id, env=env, uses=1)
        .on_conflict_do_update(
            index_elements=[_U.c.coupon_id, _U.c.env],
            set_={"uses": _U.c.uses + 1},
            where=_U.c.uses < limit if limit is not None else None,
        )
        .returning(_U.c.uses)
    )
    return (await conn.execute(stmt)).first() is not None


async def _reserve_coupon(conn: AsyncConnection, coupon_id: str, env: str, now: datetime) -> None:
    coupon = (await conn.execute(select(_C).where(_C.c.id == coupon_id))).first()
    pricing.check_usable(coupon, now)
    assert coupon is not None
    if await _take_use(conn, coupon_id, env, coupon.max_uses):
        return
    # Uses held by orders that can no longer be paid come back first.
    if await _expire(conn, now, coupon_id=coupon_id, env=env) and await _take_use(
        conn, coupon_id, env, coupon.max_uses
    ):
        return
    raise ApiError(Code.COUPON_EXHAUSTED)


async def _give_back(conn: AsyncConnection, uses: Counter[tuple[str, str]]) -> None:
    for (coupon_id, env), count in uses.items():
        await conn.execute(
            update(_U)
            .where(_U.c.coupon_id == coupon_id, _U.c.env == env)
            .values(uses=case((_U.c.uses >= count, _U.c.uses - count), else_=0))
        )


# --- expiry ---


async def _expire(
    conn: AsyncConnection,
    now: datetime,
    *,
    order_id: str | None = None,
    coupon_id: str | None = None,
    env: str | None = None,
    limit: int = EXPIRE_BATCH,
) -> int:
    """Expire pending orders past their ``expires_at`` (of one order, or one coupon in one env,
    when named) and give their coupon uses back; how many."""
    due = select(_O.c.id).where(_O.c.status == "pending", _O.c.expires_at <= now)
    if order_id is not None:
        due = due.where(_O.c.id == order_id)
    if coupon_id is not None:
        due = due.where(_O.c.coupon_id == coupon_id, _O.c.env == env)
    due = due.order_by(_O.c.expires_at).limit(limit)
    # Again here, on the row: a pay or a cancel that got there first leaves it alone.
    rows = await order_states.move(
        conn,
        order_states.PENDING,
        order_states.EXPIRED,
        now,
        _O.c.id.in_(due.scalar_subquery()),
        _O.c.expires_at <= now,
        values={"failure_reason": EXPIRED_REASON},
        returning=(_O.c.coupon_id, _O.c.env),
    )
    await _coupons(conn, order_states.transition(order_states.PENDING, order_states.EXPIRED), rows)
    return len(rows)


async def expire_due(db: Database, *, now: datetime | None = None) -> int:
    """Expire every pending order past its ``expires_at``, a batch per transaction, giving
    coupon uses back; how many. The worker's sweep runs it."""
    now = now or utcnow()
    total = 0
    while True:
        async with db.transaction() as conn:
            done = await _expire(conn, now)
        total += done
        if done < EXPIRE_BATCH:
            return total


async def hold_open(
    conn: AsyncConnection, order_id: str, session_id: str | None, *, provider: str
) -> None:
    """A payment completed at the provider with its money still on the way (a bank debit):
    the provider's page can no longer expire, so neither does the order; the provider's next
    report settles it."""
    same_session = (
        _O.c.provider_session_id.is_(None)
        if session_id is None
        else _O.c.provider_session_id == session_id
    )
    await conn.execute(
        update(_O)
        .where(
            _O.c.id == order_id,
            _O.c.status == "pending",
            _O.c.provider == provider,
            same_session,
        )
        .values(expires_at=None)
    )


# --- checkout ---


def _own_origins(settings: Settings, *more: str | None) -> frozenset[str]:
    """The gateway's own origins: ``AITOPUP_PUBLIC_BASE_URL``'s, and what a door adds (the
    dashboard's, whose return URLs are its own pages)."""
    found = (origin_of(url) for url in (settings.public_base_url, *more) if url)
    return frozenset(origin for origin in found if origin is not None)


def check_return_urls(
    settings: Settings, env: str, urls: dict[str, str], *, own_origin: str | None = None
) -> None:
    """Where a checkout sends its payer back (``success_url``, ``cancel_url``), each by the one
    rule (``webhooks.urls.check_return_url``): https, or the gateway's own origin; no
    loopback, private or metadata address, loopback allowed in staging as webhooks' is."""
    origins = _own_origins(settings, own_origin)
    loopback = allows_loopback(settings, env)
    for name, url in urls.items():
        try:
            check_return_url(url, allow_loopback=loopback, own_origins=origins)
        except UrlRefused as exc:
            data = {"field": name, **(exc.data() or {})}
            raise ApiError(Code.RETURN_URL_INVALID, f"{name} invalid: {exc}", data=data) from None


def landing(settings: Settings, env: str, url: str | None, *, own_origin: str) -> str | None:
    """A stored return URL the payer may be sent to now: it passes the rule again (an order
    made before the rule holds one that never did), else ``None``."""
    if not url:
        return None
    try:
        check_return_urls(settings, env, {"url": url}, own_origin=own_origin)
    except ApiError:
        return None
    return url


def _open_checkouts(merchant_id: str, env: str, now: datetime) -> Any:
    """A merchant's checkouts in ``env`` that can still be paid: pending and not yet expired
    (a session held open for a bank debit, or an invoice, has no expiry and is not counted)."""
    return (
        select(func.count())
        .select_from(_O)
        .where(
            _O.c.merchant_id == merchant_id,
            _O.c.env == env,
            _O.c.kind == "checkout",
            _O.c.status == "pending",
            _O.c.expires_at > now,
        )
    )


async def _room_for_one(
    conn: AsyncConnection, settings: Settings, caller: Caller, now: datetime, *, lock: bool
) -> None:
    """Refused (``OPEN_ORDERS_LIMIT_REACHED``) when ``caller`` has as many open checkouts in
    its environment as ``max_open_orders_per_merchant_env``. ``lock``: inside the transaction
    that writes the order, checkouts of one merchant take turns on its row, so concurrent ones
    cannot all see room for one more."""
    if lock:
        await conn.execute(select(_M.c.id).where(_M.c.id == caller.merchant_id).with_for_update())
    cap = settings.max_open_orders_per_merchant_env
    count = (await conn.execute(_open_checkouts(caller.merchant_id, caller.env, now))).scalar_one()
    if count >= cap:
        raise ApiError(Code.OPEN_ORDERS_LIMIT_REACHED, data={"limit": cap})


async def _check_invoice_email(db: Database, merchant_id: str, email: str) -> None:
    """An invoice goes only to one of the merchant's own users (its members): Stripe mails it
    from the operator's account, so it must not go to anyone a key holder names."""
    async with db.read() as conn:
        found = (
            await conn.execute(
                select(_US.c.id)
                .join(_MU, _MU.c.user_id == _US.c.id)
                .where(_MU.c.merchant_id == merchant_id, _US.c.email == email.strip().lower())
                .limit(1)
            )
        ).first()
    if found is None:
        raise ApiError(Code.INVOICE_EMAIL_NOT_ALLOWED)


DONE_PATH = "/api/public/v1/billing/checkout/done"


def done_url(settings: Settings, order_id: str, *, cancelled: bool = False) -> str:
    """The gateway's own landing page for a checkout made without return URLs: a person sees
    there whether the wallet was funded (or the payment cancelled); it shows no secret."""
    url = f"{public_base(settings)}{DONE_PATH}?order={order_id}"
    return url + "&cancelled=1" if cancelled else url


async def _usable_coupon(conn: AsyncConnection, code: str, now: datetime) -> Any:
    """The coupon row ``code`` names (codes are matched upper-case), or the refusal if there is
    none or it cannot be used now."""
    coupon = (await conn.execute(select(_C).where(_C.c.code == code.strip().upper()))).first()
    pricing.check_usable(coupon, now)
    return coupon


async def check_coupon(db: Database, code: str) -> None:
    """A checkout's coupon on its own (found, active, not expired), as ``checkout`` judges it
    first; whether it applies to a pack or amount, and has uses left, only a checkout says."""
    async with db.read() as conn:
        await _usable_coupon(conn, code, utcnow())


async def _priced(
    db: Database,
    settings: Settings,
    caller: Caller,
    body: CheckoutRequest | InvoiceRequest,
    now: datetime,
) -> tuple[pricing.Quote, Any]:
    """The quote of a checkout or an invoice (one rule), and its coupon's row, or the refusal."""
    async with db.read() as conn:
        pack = None
        if body.pack_id is not None:
            pack = (
                await conn.execute(select(_P).where(_P.c.id == body.pack_id, _P.c.active.is_(True)))
            ).first()
            if pack is None:
                raise ApiError(Code.PACK_NOT_FOUND)
        coupon = None
        if body.coupon is not None:
            coupon = await _usable_coupon(conn, body.coupon, now)
        quote = pricing.quote(
            settings, pack=pack, amount_cents=body.amount_cents, coupon=coupon, now=now
        )
        if coupon is not None and await _all_held(conn, coupon, caller.env, now):
            raise ApiError(Code.COUPON_EXHAUSTED)
    return quote, coupon


async def invoice(
    db: Database, settings: Settings, caller: Caller, body: InvoiceRequest
) -> Outcome:
    """An invoice order (OhMyGPT's invoice recharge order) through a channel that sends
    invoices (Stripe's: it e-mails the invoice and hosts its page): live only, made at the
    provider *before* the order is written, as a checkout's payment is; credited once when the
    provider reports it paid or reconciliation finds it paid."""
    if caller.env != "live":
        raise ApiError(Code.INVOICE_NOT_AVAILABLE)
    chosen = await channels.choose(db, settings, caller.env, None, "invoice")
    await _check_invoice_email(db, caller.merchant_id, str(body.email))
    now = utcnow()
    quote, coupon = await _priced(db, settings, caller, body, now)
    order_id = new_id("ord")
    req = _payment_request(settings, caller, order_id, quote, "invoice", "", body)
    req = replace(req, notify_url=channels.notify_url(settings, chosen.payer.name))
    async with channels.context(settings, caller.env, chosen.credentials, now=now) as ctx:
        made = await chosen.payer.open(ctx, req)
    try:
        async with db.transaction() as conn:
            if coupon is not None:
                await _reserve_coupon(conn, coupon.id, caller.env, now)
            await conn.execute(
                insert(_O).values(
                    id=order_id,
                    env=caller.env,
                    merchant_id=caller.merchant_id,
                    kind="invoice",
                    provider=chosen.payer.name,
                    channel=chosen.channel.name,
                    provider_session_id=made.session_id,
                    provider_account=chosen.credentials.account_id(),
                    checkout_url=made.url or None,
                    coupon_id=coupon.id if coupon is not None else None,
                    status=order_states.first(order_states.PENDING),
                    # An invoice waits for its payment: it never expires here.
                    expires_at=None,
                    created_at=now,
                    updated_at=now,
                    provider_status="open",
                    **order_prices(quote),
                    **_charged(made.charge),
                )
            )
            row = (await conn.execute(orders_select().where(_O.c.id == order_id))).one()
    except IntegrityError:
        raise _repeated(chosen.payer.name, made.session_id) from None
    return Outcome(Code.CREATED, order_data(row), status="pending")


def _repeated(provider: str, session_id: str | None) -> ApiError:
    """A provider answered a session id another order already holds (the one session id a
    provider's account gives one payment): nothing is written, the order's transaction rolled
    back with its coupon use, and the caller is told in the envelope, never a 500."""
    log.warning("%s answered session %s, already another order's: none made", provider, session_id)
    return ApiError(Code.PAYMENT_SESSION_REPEATED)


def _payment_request(
    settings: Settings,
    caller: Caller,
    order_id: str,
    quote: pricing.Quote,
    kind: providers.Kind,
    cancel_url: str,
    body: InvoiceRequest | None = None,
) -> PaymentRequest:
    return PaymentRequest(
        order_id=order_id,
        merchant_id=caller.merchant_id,
        env=caller.env,
        kind=kind,
        pack_id=quote.pack_id,
        name=quote.name if quote.pack_id is None else f"{quote.name} pack",
        credits=quote.credits,
        amount_minor=quote.amount_cents,
        currency=quote.currency,
        return_url=order_return_url(settings, order_id),
        cancel_url=cancel_url,
        notify_url="",
        email=str(body.email) if body is not None else None,
        days_until_due=body.days_until_due if body is not None else None,
    )


def _charged(charge: providers.Charge | None) -> dict[str, Any]:
    """The order's columns of what the provider charges in its own currency, if it does."""
    if charge is None:
        return {}
    return {
        "charge_minor": charge.amount_minor,
        "charge_currency": charge.currency.upper()[:3],
        "charge_rate": charge.rate[:40],
    }


def order_return_url(settings: Settings, order_id: str) -> str:
    """Where a channel's payer lands after paying: the gateway looks the order up at the
    provider there, then sends the payer on to the merchant's ``success_url``."""
    return f"{public_base(settings)}{payments.RETURN_PATH}?order={order_id}"


async def checkout(
    db: Database,
    settings: Settings,
    caller: Caller,
    body: CheckoutRequest,
    *,
    own_origin: str | None = None,
    method: str | None = None,
) -> Outcome:
    """Through ``body.channel`` (unnamed: the sandbox in staging, Stripe in live), one the
    merchant is offered (``channels.choose``); ``method``: the payer's way of paying within it
    (``PaymentRequest.method``: Epay's type), as New API's door names one. Staging: a sandbox
    link titled for the channel, no network. Live: the provider's payment (a Stripe Checkout
    Session…), opened *before* anything is written, so a refusal or a timeout leaves no order
    behind. The return URLs pass ``check_return_urls`` (``own_origin``: a door's own pages); at most
    ``max_open_orders_per_merchant_env`` checkouts are open at once, judged before Stripe is
    called and again, the merchant's row held, in the transaction that writes the order."""
    given = {
        name: url
        for name, url in (("success_url", body.success_url), ("cancel_url", body.cancel_url))
        if url is not None
    }
    check_return_urls(settings, caller.env, given, own_origin=own_origin)
    now = utcnow()
    quote, coupon = await _priced(db, settings, caller, body, now)
    async with db.read() as conn:
        await _room_for_one(conn, settings, caller, now, lock=False)
    order_id = new_id("ord")
    # Unset, the payer lands on the gateway's own page, which says how the order stands.
    success_url = body.success_url or done_url(settings, order_id)
    cancel_url = body.cancel_url or done_url(settings, order_id, cancelled=True)

    chosen = await channels.choose(db, settings, caller.env, body.channel, "checkout")
    req = _payment_request(settings, caller, order_id, quote, "checkout", cancel_url)
    req = replace(req, notify_url=channels.notify_url(settings, chosen.payer.name), method=method)
    async with channels.context(settings, caller.env, chosen.credentials, now=now) as ctx:
        opened = await chosen.payer.open(ctx, req)
    provider, session_id, url = chosen.payer.name, opened.session_id, opened.url
    ttl = timedelta(seconds=settings.sandbox_order_ttl_seconds)
    expires_at = opened.expires_at or now + ttl

    try:
        async with db.transaction() as conn:
            await _room_for_one(conn, settings, caller, now, lock=True)
            if coupon is not None:
                await _reserve_coupon(conn, coupon.id, caller.env, now)
            await conn.execute(
                insert(_O).values(
                    id=order_id,
                    env=caller.env,
                    merchant_id=caller.merchant_id,
                    kind="checkout",
                    provider=provider,
                    channel=chosen.channel.name,
                    provider_session_id=session_id,
                    provider_account=chosen.credentials.account_id(),
                    checkout_url=url,
                    success_url=success_url,
                    cancel_url=cancel_url,
                    coupon_id=coupon.id if coupon is not None else None,
                    status=order_states.first(order_states.PENDING),
                    expires_at=expires_at,
                    created_at=now,
                    updated_at=now,
                    **order_prices(quote),
                    **_charged(opened.charge),
                )
            )
    except ApiError as exc:
        if session_id is not None:
            # Never shown to anyone, so never paid; Stripe expires it after a day.
            log.warning("checkout session %s orphaned: %s meanwhile", session_id, exc.code.name)
        raise
    except IntegrityError:
        raise _repeated(provider, session_id) from None
    made = CheckoutData(
        order_id=order_id,
        status="pending",
        provider=provider,
        channel=chosen.channel.name,
        checkout_url=url,
        pack_id=quote.pack_id,
        name=quote.name,
        credits=quote.credits,
        credit_cents=quote.credit_cents,
        price_cents=quote.price_cents,
        tier_percent=quote.tier_percent,
        tier_discount_cents=quote.tier_discount_cents,
        discount_cents=quote.discount_cents,
        amount_cents=quote.amount_cents,
        currency=quote.currency,
        coupon=coupon.code if coupon is not None else None,
        expires_at=rfc3339(expires_at),
    )
    return Outcome(Code.CREATED, made, status="pending")


def order_memo(order: Any) -> str:
    """The ledger's words for a paid order, the same on every path that pays one."""
    if order.pack_id is None:
        return f"{order.pack_name} ({order.credits:,} credits)"
    return f"{order.pack_name} pack ({order.credits:,} credits)"


def order_prices(quote: pricing.Quote) -> dict[str, Any]:
    """The order's columns of a quote: stored once, read by the session, history and receipt."""
    return {
        "pack_id": quote.pack_id,
        "pack_name": quote.name,
        "credits": quote.credits,
        "credit_cents": quote.credit_cents,
        "price_cents": quote.price_cents,
        "tier_percent": quote.tier_percent,
        "tier_discount_cents": quote.tier_discount_cents,
        "discount_cents": quote.discount_cents,
        "amount_cents": quote.amount_cents,
        "currency": quote.currency,
    }


# --- completing, failing and expiring orders ---


@dataclass(frozen=True, slots=True)
class Paid:
    """What the payment provider says was paid, to be matched against the order."""

    provider: str
    session_id: str | None
    amount_cents: int | None
    currency: str | None


def _matched(order: Any, paid: Paid) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """What the order charged and what the provider says was paid, side by side: the one rule
    a payment must meet before anything is credited."""
    expected = (
        order.provider,
        order.provider_session_id,
        order.charge_minor if order.charge_minor is not None else order.amount_cents,
        order.charge_currency or order.currency,
    )
    got = (paid.provider, paid.session_id, paid.amount_cents, (paid.currency or "").upper())
    return expected, got


async def payment_matches(conn: AsyncConnection, order_id: str, paid: Paid) -> bool:
    """Whether ``paid`` meets ``complete_order``'s rule for ``order_id`` (an unknown order
    matches, for ``complete_order`` to say so)."""
    order = (await conn.execute(select(_O).where(_O.c.id == order_id))).first()
    if order is None:
        return True
    expected, got = _matched(order, paid)
    return expected == got


def _payable(now: datetime) -> ColumnElement[bool]:
    return or_(_O.c.expires_at.is_(None), _O.c.expires_at > now)


async def _move(
    conn: AsyncConnection,
    order_id: str,
    source: str,
    target: str,
    now: datetime,
    *won: ColumnElement[bool],
    **values: Any,
) -> Any:
    """The one conditional UPDATE that settles an order (``order_states.move``): the row if it
    was in ``source`` and ``won`` held, else None."""
    rows = await order_states.move(
        conn,
        source,
        target,
        now,
        _O.c.id == order_id,
        *won,
        values=values,
        returning=(_O.c.coupon_id, _O.c.env),
    )
    return rows[0] if rows else None


async def _coupons(conn: AsyncConnection, t: order_states.Transition, rows: Sequence[Any]) -> None:
    """What move ``t`` does to the coupon uses of the orders it moved (``rows``)."""
    uses = Counter((r.coupon_id, r.env) for r in rows if r.coupon_id is not None)
    if t.coupon == order_states.GIVE_BACK:
        await _give_back(conn, uses)
    elif t.coupon == order_states.TAKE:
        for coupon_id, env in uses:
            await _take_use(conn, coupon_id, env, None)


async def lost(conn: AsyncConnection, order_id: str, now: datetime) -> Settlement:
    """Another settled the order first, or it can no longer be paid: expire it if it is due,
    and say what it is now."""
    if await _expire(conn, now, order_id=order_id):
        return Settlement("expired", order_status="expired")
    status = (await conn.execute(select(_O.c.status).where(_O.c.id == order_id))).scalar_one()
    return Settlement(
        "already_completed" if status == "completed" else "not_pending", order_status=status
    )


async def complete_order(
    conn: AsyncConnection, db: Database, order_id: str, paid: Paid, now: datetime
) -> Settlement:
    """Settle ``order_id`` as paid by what the provider says (``paid``), in the caller's
    transaction: if it matches what the order charged and the order is pending (or expired, for
    a provider that ``settles_late``), the wallet credited, the receipt numbered and
    ``order.paid`` written; otherwise nothing credited, and the settlement says why."""
    order = (await conn.execute(select(_O).where(_O.c.id == order_id))).first()
    if order is None:
        log.warning("payment for unknown order %s from %s", order_id, paid.provider)
        return Settlement("unknown_order")
    expected, got = _matched(order, paid)
    if expected != got:
        # Money may have moved: leave the order pending for an operator, credit nothing.
        log.error("payment does not match order %s: expected %s, got %s", order_id, expected, got)
        return Settlement("mismatch")
    found = providers.get(paid.provider)
    late = found is not None and found.settles_late
    # Pressing Pay is the payment itself (the sandbox): not once the order has expired.
    won = [] if late else [_payable(now)]
    t = order_states.transition(order_states.PENDING, order_states.COMPLETED)
    row = await _move(conn, order_id, t.source, t.target, now, *won, completed_at=now)
    if row is None and late:
        # The provider took the payment while its page was open; its report came after the
        # order expired here. The payer paid: credit it, and take its coupon use again.
        t = order_states.transition(order_states.EXPIRED, order_states.COMPLETED)
        row = await _move(
            conn, order_id, t.source, t.target, now, completed_at=now, failure_reason=None
        )
        if row is not None:
            log.warning("order %s paid before its session expired; credited late", order_id)
            await _coupons(conn, t, [row])
    if row is None:
        return await lost(conn, order_id, now)
    moved = await credit_merchant(
        conn,
        db,
        env=order.env,
        merchant_id=order.merchant_id,
        amount=order.credit_cents,
        source="checkout",
        reference=order_id,
        memo=order_memo(order),
        now=now,
    )
    # Numbered as it is paid, in this transaction: a payment rolled back takes its number back.
    issued = await receipts.issue(
        conn, env=order.env, merchant_id=order.merchant_id, reference=order_id, now=now
    )
    told = await outbox.emit(
        conn,
        env=order.env,
        merchant_id=order.merchant_id,
        type_=PAID,
        data=_paid_data(order, issued, now),
        now=now,
    )
    return Settlement("credited", [*moved.delivery_ids, *told], "completed")


def _paid_data(order: Any, issued: receipts.Issued, now: datetime) -> dict[str, Any]:
    """``order.paid``'s body: the order as ``GET /orders/{id}`` names its fields, its receipt."""
    return {
        "order_id": order.id,
        "env": order.env,
        "kind": order.kind,
        "provider": order.provider,
        "channel": order.channel,
        "pack_id": order.pack_id,
        "credits": order.credits,
        "credit_cents": order.credit_cents,
        "amount_cents": order.amount_cents,
        "currency": order.currency,
        "charge_minor": order.charge_minor,
        "charge_currency": order.charge_currency,
        "charge_rate": order.charge_rate,
        "receipt_number": issued.text,
        "paid_at": rfc3339(now),
    }


async def fail_order(
    conn: AsyncConnection,
    order_id: str,
    reason: str,
    now: datetime,
    *,
    provider: str,
    status: str = "failed",
    payable_at: datetime | None = None,
) -> Settlement:
    """Move a pending order to ``status`` (``failed`` or ``expired``) and give its coupon use
    back; with ``payable_at``, only if it could still be paid then."""
    t = order_states.transition(order_states.PENDING, status)
    won = [_O.c.provider == provider]
    if payable_at is not None:
        won.append(_payable(payable_at))
    row = await _move(conn, order_id, t.source, t.target, now, *won, failure_reason=reason)
    if row is None:
        return Settlement("not_pending")
    await _coupons(conn, t, [row])
    return Settlement(f"{status}_order", order_status=status)


async def note_provider(
    conn: AsyncConnection,
    order_id: str,
    state: str,
    now: datetime,
    *,
    payment_id: str | None = None,
) -> None:
    """What the provider last said of the order (``payments.State``), and when: kept so an
    operator can list orders whose state there and here differ."""
    values: dict[str, Any] = {"provider_status": state, "checked_at": now}
    if payment_id is not None:
        values["provider_payment_id"] = payment_id[:255]
    await conn.execute(update(_O).where(_O.c.id == order_id).values(**values))


async def landed_order(db: Database, order_id: str) -> Any:
    """The checkout a payer lands back from on the gateway's own page (``done_url``)."""
    async with db.read() as conn:
        order = (
            await conn.execute(select(_O).where(_O.c.id == order_id, _O.c.kind == "checkout"))
        ).first()
    if order is None:
        raise ApiError(Code.ORDER_NOT_FOUND)
    return order
