"""Opening an order: a checkout (through a channel the merchant is offered: the sandbox in
staging, the provider's payment page in live) or an invoice, priced by one rule
(``pricing.quote``) and opened at the provider *before* anything is written, so a refusal or a
timeout leaves no order behind. A pending checkout can be paid until its ``expires_at``: the
sandbox's TTL setting, or the provider session's own expiry.

A checkout under an ``Idempotency-Key`` (``gateway.idempotency``, as a send's and a charge's)
is one order however often it is asked: a kept reply is answered before the provider is
called; otherwise the key is claimed first in the transaction that writes the order, so of
concurrent duplicates one writes it and the others wait on the claim, find its reply, and
write nothing (the provider's sessions they opened are never shown, so never paid). The same
key with another body is refused (``IDEMPOTENCY_KEY_REUSED``)."""

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ... import idempotency
from ...callers import Caller
from ...store.engine import Database
from ...store.models import Coupon, FundingOrder, Merchant, MerchantUser, Pack, User, table_of
from ...values.clock import new_id, rfc3339, utcnow
from ...values.code_names import Code
from ...values.outcome import ApiError, Outcome
from ...values.settings import Settings
from ..channels import offering
from ..channels import registry as channels
from ..channels.registry import PaymentRequest
from ..schemas import CheckoutData, CheckoutRequest, InvoiceRequest
from . import pricing, states
from .coupons import all_held, take_use, usable_coupon
from .expiry import expire
from .reads import order_data, orders_select
from .returns import check_return_urls, done_url, order_return_url

__all__ = ["CHECKOUT", "Keyed", "checkout", "invoice", "order_prices"]

log = logging.getLogger(__name__)

_P = table_of(Pack)
_C = table_of(Coupon)
_O = table_of(FundingOrder)
_M = table_of(Merchant)
_MU = table_of(MerchantUser)
_US = table_of(User)

CHECKOUT = "billing.checkout"  # the operation an idempotency key's fingerprint names


@dataclass(frozen=True, slots=True)
class Keyed:
    """A checkout under an idempotency key: the key, the sealer its reply is kept under, and how
    long it is kept."""

    key: str
    sealer: Sealer
    ttl_seconds: int

    async def kept(
        self, conn: AsyncConnection, caller: Caller, request_hash: str
    ) -> Outcome | None:
        """The reply kept under the key, read without claiming it (``None``: none yet)."""
        return await idempotency.peek(
            conn,
            self.sealer,
            **idempotency.scope_of(caller, self.key),
            request_hash=request_hash,
            now=utcnow(),
            ttl_seconds=self.ttl_seconds,
        )

    async def claim(
        self, conn: AsyncConnection, caller: Caller, request_hash: str
    ) -> Outcome | None:
        """The key claimed for this request (``None``), or the reply the first one kept."""
        return await idempotency.claim(
            conn,
            self.sealer,
            **idempotency.scope_of(caller, self.key),
            request_hash=request_hash,
            now=utcnow(),
            ttl_seconds=self.ttl_seconds,
        )

    async def record(self, conn: AsyncConnection, caller: Caller, outcome: Outcome) -> None:
        scope = idempotency.scope_of(caller, self.key)
        await idempotency.record(conn, self.sealer, **scope, outcome=outcome)


async def _reserve_coupon(conn: AsyncConnection, coupon_id: str, env: str, now: datetime) -> None:
    """One use of the coupon for the order being written, or the refusal: its uses held by
    orders that can no longer be paid come back first."""
    coupon = (await conn.execute(select(_C).where(_C.c.id == coupon_id))).first()
    pricing.check_usable(coupon, now)
    assert coupon is not None
    if await take_use(conn, coupon_id, env, coupon.max_uses):
        return
    # Uses held by orders that can no longer be paid come back first.
    if await expire(conn, now, coupon_id=coupon_id, env=env) and await take_use(
        conn, coupon_id, env, coupon.max_uses
    ):
        return
    raise ApiError(Code.COUPON_EXHAUSTED)


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
            coupon = await usable_coupon(conn, body.coupon, now)
        quote = pricing.quote(
            settings, pack=pack, amount_cents=body.amount_cents, coupon=coupon, now=now
        )
        if coupon is not None and await all_held(conn, coupon, caller.env, now):
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
    chosen = await offering.choose(db, settings, caller.env, None, "invoice")
    await _check_invoice_email(db, caller.merchant_id, str(body.email))
    now = utcnow()
    quote, coupon = await _priced(db, settings, caller, body, now)
    order_id = new_id("ord")
    req = _payment_request(settings, caller, order_id, quote, "invoice", "", body)
    req = replace(req, notify_url=offering.notify_url(settings, chosen.payer.name))
    async with offering.context(settings, caller.env, chosen.credentials, now=now) as ctx:
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
                    status=states.first(states.PENDING),
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


def _orphaned(session_id: str | None, why: str) -> None:
    """A provider's session opened for an order never written: never shown to anyone, so never
    paid; Stripe expires it after a day."""
    if session_id is not None:
        log.warning("checkout session %s orphaned: %s", session_id, why)


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
    kind: channels.Kind,
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


def _charged(charge: channels.Charge | None) -> dict[str, Any]:
    """The order's columns of what the provider charges in its own currency, if it does."""
    if charge is None:
        return {}
    return {
        "charge_minor": charge.amount_minor,
        "charge_currency": charge.currency.upper()[:3],
        "charge_rate": charge.rate[:40],
    }


async def checkout(
    db: Database,
    settings: Settings,
    caller: Caller,
    body: CheckoutRequest,
    *,
    own_origin: str | None = None,
    method: str | None = None,
    keyed: Keyed | None = None,
) -> Outcome:
    """Through ``body.channel`` (unnamed: the sandbox in staging, Stripe in live), one the
    merchant is offered (``offering.choose``); ``method``: the payer's way of paying within it
    (``PaymentRequest.method``: Epay's type), as New API's door names one. Staging: a sandbox
    link titled for the channel, no network. Live: the provider's payment (a Stripe Checkout
    Session…), opened *before* anything is written, so a refusal or a timeout leaves no order
    behind. The return URLs pass ``check_return_urls`` (``own_origin``: a door's own pages); at most
    ``max_open_orders_per_merchant_env`` checkouts are open at once, judged before Stripe is
    called and again, the merchant's row held, in the transaction that writes the order.
    ``keyed``: under an idempotency key, one order however often it is asked."""
    request_hash = idempotency.fingerprint(CHECKOUT, [body.model_dump(mode="json"), method])
    if keyed is not None:
        async with db.read() as conn:
            kept = await keyed.kept(conn, caller, request_hash)
        if kept is not None:
            return kept
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

    chosen = await offering.choose(db, settings, caller.env, body.channel, "checkout")
    req = _payment_request(settings, caller, order_id, quote, "checkout", cancel_url)
    req = replace(req, notify_url=offering.notify_url(settings, chosen.payer.name), method=method)
    async with offering.context(settings, caller.env, chosen.credentials, now=now) as ctx:
        opened = await chosen.payer.open(ctx, req)
    provider, session_id, url = chosen.payer.name, opened.session_id, opened.url
    ttl = timedelta(seconds=settings.sandbox_order_ttl_seconds)
    expires_at = opened.expires_at or now + ttl

    data = CheckoutData(
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
    made = Outcome(Code.CREATED, data, status="pending")
    try:
        async with db.transaction() as conn:
            if keyed is not None:
                kept = await keyed.claim(conn, caller, request_hash)
                if kept is not None:
                    _orphaned(session_id, "a duplicate of a keyed checkout")
                    return kept
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
                    status=states.first(states.PENDING),
                    expires_at=expires_at,
                    created_at=now,
                    updated_at=now,
                    **order_prices(quote),
                    **_charged(opened.charge),
                )
            )
            if keyed is not None:
                await keyed.record(conn, caller, made)
    except ApiError as exc:
        _orphaned(session_id, f"{exc.code.name} meanwhile")
        raise
    except IntegrityError:
        raise _repeated(provider, session_id) from None
    return made


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
