"""A mail's message, composed from its row when it is sent (the worker) or shown (the staging
mailbox): one composition for both, so the mailbox shows exactly what would have been sent,
but to a reader who may not see the code (``Caller.sees_codes``: a key that does not reveal an
upstream's code, a dashboard role that sees none), the code and a link to a page showing one
are masked."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..callers import Caller
from ..merchants import voucher_redemption
from ..merchants.names import PRODUCT_NAME, safe_name
from ..store.models import ApprovalLink, Merchant, Topup, User, table_of
from ..upstreams import config as upstream_config
from ..values.languages import ENGLISH, Catalogues, Reading, choose, money_in
from ..values.platforms import name_of
from . import links, rows
from .render import Rendered, render
from .vouchers import (
    DEFAULT_PROVIDER,
    MASKED,
    masked,
    redeemable,
    topups_with_provider,
    upstream_given,
)

__all__ = ["Message", "compose", "expires_text", "redeem_values", "redeemed_text"]

_T = table_of(Topup)
_MER = table_of(Merchant)
_U = table_of(User)
_AL = table_of(ApprovalLink)


@dataclass(frozen=True, slots=True)
class Message:
    to: str
    sender: str | None  # the display name the From header carries, when a merchant's
    # (``names.safe_name``: a stored name that breaks the rule of names is never in a header)
    rendered: Rendered
    link: str | None  # the link the mail carries; None: masked from this reader
    redeemed_at: datetime | None = None  # a voucher mail's: when its voucher was redeemed


def expires_text(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def redeemed_text(when: datetime | None) -> str | None:
    """When a voucher was redeemed, as the mail and the recipient's page say it."""
    return None if when is None else when.strftime("%Y-%m-%d %H:%M UTC")


async def _merchant_name(conn: AsyncConnection, merchant_id: str) -> str | None:
    """The merchant's name as a mail may carry it, or ``None`` (the product's name instead)."""
    row = (await conn.execute(select(_MER).where(_MER.c.id == merchant_id))).one()
    return safe_name(row)


async def _recipients_reading(
    conn: AsyncConnection, merchant_id: str, catalogues: Catalogues | None
) -> Reading:
    """The language the merchant set for its recipients (``values.languages.choose``)."""
    if catalogues is None:
        return ENGLISH
    found = await conn.execute(select(_MER.c.language).where(_MER.c.id == merchant_id))
    return catalogues.reading(choose(merchant=found.scalar_one_or_none()))


async def _approvers_reading(
    conn: AsyncConnection, merchant_id: str, email: str, catalogues: Catalogues | None
) -> Reading:
    """The language an approver of ``merchant_id`` at ``email`` reads: their own setting, else
    the merchant's (``values.languages.choose``)."""
    if catalogues is None:
        return ENGLISH
    person = await conn.execute(select(_U.c.language).where(_U.c.email == email).limit(1))
    merchant = await conn.execute(select(_MER.c.language).where(_MER.c.id == merchant_id))
    chosen = choose(person=person.scalar_one_or_none(), merchant=merchant.scalar_one_or_none())
    return catalogues.reading(chosen)


async def compose(
    conn: AsyncConnection,
    sealer: Sealer,
    mail: Any,
    *,
    base_url: str,
    link_ttl_seconds: int,
    now: datetime,
    reader: Caller | None = None,
    catalogues: Catalogues | None = None,
) -> Message | None:
    """The message of mail row ``mail``; ``None`` if what it was about is gone. ``reader``:
    who it is shown to (``None``: its recipient, as sent); a code they may not see, and a link
    to a page that shows one, are masked. A mail to a merchant's recipient is in the language
    the merchant set for them, and a mail to one of its people (an approval's) in that person's
    own, else the merchant's, in ``catalogues`` (none: English)."""
    if mail.kind == rows.VOUCHER:
        return await _voucher(
            conn, sealer, mail, base_url, link_ttl_seconds, now, reader, catalogues
        )
    to = sealer.open(mail.to_sealed, context=mail.id)
    data: dict[str, Any] = json.loads(sealer.open(mail.data_sealed, context=mail.id))
    if mail.kind == rows.RECIPIENT_LINK:
        sender = await _merchant_name(conn, mail.merchant_id)
        expires = now + timedelta(seconds=link_ttl_seconds)
        # A fresh link shows the sends until it was asked for.
        link = links.RecipientLink(mail.merchant_id, mail.env, to, expires, now, mail.created_at)
        url = await _link(conn, sealer, link, base_url, reader)
        values = {
            "sender": sender or PRODUCT_NAME,
            "expires": expires_text(expires),
        }
        reading = await _recipients_reading(conn, mail.merchant_id, catalogues)
        values["link"] = url or reading.gettext(MASKED)
        return Message(to, sender, render(rows.RECIPIENT_LINK, values, reading), url)
    if mail.kind in (rows.ENDPOINT_FAILING, rows.ENDPOINT_DISABLED):
        # Everything it says was sealed in its row when it was written; nothing secret was.
        page = links.endpoint_url(base_url, data["endpoint_id"])
        sender = await _merchant_name(conn, mail.merchant_id)
        return Message(to, None, render(mail.kind, {**data, "link": page, "sender": sender}), page)
    if mail.kind == rows.AUTO_TOP_UP_DISABLED:
        page = f"{base_url}/dashboard/wallet"
        sender = await _merchant_name(conn, mail.merchant_id)
        return Message(to, None, render(mail.kind, {**data, "link": page, "sender": sender}), page)
    if mail.kind == rows.ENVIRONMENT_FREEZE:
        sender = await _merchant_name(conn, mail.merchant_id)
        page = links.freeze_url(base_url)
        values = {**data, "link": page, "sender": sender or PRODUCT_NAME}
        return Message(to, None, render(mail.kind, values), page)
    if mail.kind in (rows.TREASURY_LOW, rows.TREASURY_DRIFT):
        # Everything it says was sealed in its row when it was written; nothing secret was.
        page = f"{base_url}/api/admin/v1/treasury"
        return Message(to, None, render(mail.kind, {**data, "link": page}), page)
    if mail.kind == rows.APPROVAL_REQUEST:
        # The link decides as the one it was mailed to, so a reader of the staging mailbox
        # sees it only if it may decide the hold itself (``Caller.decides_holds``) and, a
        # person, is that one (``_addressee``): approving by mail can be tried on staging, by
        # no one who could not approve on the dashboard, and never in another person's name.
        shows = reader is None or (
            reader.decides_holds() and await _addressee(conn, sealer, data["token"], reader)
        )
        url = links.approval_url(base_url, data["token"]) if shows else None
        sender = await _merchant_name(conn, mail.merchant_id)
        reading = await _approvers_reading(conn, mail.merchant_id, to, catalogues)
        shown = {k: v for k, v in data.items() if k not in ("token", "amount_cents")}
        if "amount_cents" in data:  # a mail written before it kept only the English amount
            shown["amount"] = money_in(data["amount_cents"], reading.language)
        values = {
            **shown,
            "link": url or reading.gettext(MASKED),
            "sender": sender or PRODUCT_NAME,
        }
        return Message(to, None, render(mail.kind, values, reading), url)
    values = {"link": links.reset_url(base_url, data["token"]), "expires": data["expires"]}
    return Message(to, None, render(rows.PASSWORD_RESET, values), values["link"])


async def _addressee(conn: AsyncConnection, sealer: Sealer, token: str, reader: Caller) -> bool:
    """Whether ``reader`` may be shown a hold's mailed link: a key of the merchant's (no person:
    ``decides_holds`` judged it), or the very person it was sent to. Another person opening it
    would be refused by its page (``APPROVAL_LINK_NOT_YOURS``), so is not shown it."""
    person = reader.person()
    if person is None:
        return True
    found = select(_AL.c.user_id).where(_AL.c.token_hash == sealer.lookup(token))
    return (await conn.execute(found)).scalar_one_or_none() == person


async def _voucher(
    conn: AsyncConnection,
    sealer: Sealer,
    mail: Any,
    base_url: str,
    link_ttl_seconds: int,
    now: datetime,
    reader: Caller | None,
    catalogues: Catalogues | None,
) -> Message | None:
    found = topups_with_provider().where(_T.c.id == mail.topup_id)
    topup = (await conn.execute(found)).first()
    if topup is None:
        return None
    sender = await _merchant_name(conn, topup.merchant_id)
    given = redeemable(sealer, topup)
    if reader is not None and not reader.sees_codes(upstream=given.provider != DEFAULT_PROVIDER):
        given = masked(given)
    expires = now + timedelta(seconds=link_ttl_seconds)
    # The voucher mail's link shows the sends until this one, never one made after it.
    link = links.RecipientLink(
        topup.merchant_id, topup.env, topup.recipient_email, expires, now, topup.created_at
    )
    url = await _link(conn, sealer, link, base_url, reader)
    reading = await _recipients_reading(conn, topup.merchant_id, catalogues)
    values = {
        "sender": sender or PRODUCT_NAME,
        "amount": money_in(topup.amount_cents, reading.language),
        "platform": name_of(topup.platform),
        "provider": given.provider,
        "code": reading.gettext(MASKED) if given.code == MASKED else given.code,
        "link": url or reading.gettext(MASKED),
        "expires": expires_text(expires),
        **await redeem_values(conn, topup, given.provider),
        "redeemed": redeemed_text(topup.redeemed_at),
    }
    rendered = render(rows.VOUCHER, values, reading)
    return Message(topup.recipient_email, sender, rendered, url, topup.redeemed_at)


async def redeem_values(conn: AsyncConnection, topup: Any, provider: str) -> dict[str, Any]:
    """Where and how the recipient of ``topup`` redeems what ``provider`` gave them, as the
    merchant set it with the provider (``upstreams.config.redemption``), or for its own
    voucher (``merchants.voucher_redemption``): the "how to redeem"
    templates' ``redeem_url``, ``redeem_host``, ``instructions`` and ``api_root``; and New API's
    ``quota_per_usd`` (``None`` for another provider), for the quota shown beside the amount."""
    if provider == DEFAULT_PROVIDER:
        # The merchant's own words and link for its voucher (``merchants.voucher_redemption``).
        own = await voucher_redemption.get(conn, topup.merchant_id, topup.env)
        url = own.redeem_url
        return {
            "redeem_url": url,
            "redeem_host": urlsplit(url).hostname if url else None,
            "instructions": own.redeem_instructions,
            "api_root": None,
            "quota_per_usd": None,
        }
    where = await upstream_config.redemption(
        conn, topup.merchant_id, topup.env, topup.platform, provider
    )
    return {
        "redeem_url": where.url,
        "redeem_host": where.host,
        "instructions": where.instructions,
        "api_root": where.api_root,
        "quota_per_usd": where.quota_per_usd,
    }


async def _link(
    conn: AsyncConnection,
    sealer: Sealer,
    link: links.RecipientLink,
    base_url: str,
    reader: Caller | None,
) -> str | None:
    """The URL of ``link``'s page; ``None`` (masked) for a reader who may not see a code the
    page shows: the link is worth the code. The page shows the gateway's own vouchers always,
    an upstream's code where one was given."""
    if reader is not None and not reader.sees_codes(upstream=True):
        if not reader.sees_codes(upstream=False):
            return None
        if await upstream_given(conn, link.merchant_id, link.env, link.email, link.upto):
            return None
    return links.recipient_url(base_url, links.recipient_token(sealer, link))
