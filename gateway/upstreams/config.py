"""A merchant's fulfilment providers: one per environment and platform, saved, listed, tested,
and loaded for a send.

Credentials are sealed at rest as webhook secrets are (context: merchant, env, platform) and
never returned after saving. Upstream URLs are judged by the webhook URL check, with the same
development setting for loopback in staging. Each environment has its own settings, so a
staging send never reaches a live upstream: staging without one uses the voucher.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from sqlalchemy import String, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..store import expressions
from ..store.engine import Database
from ..store.expressions import param
from ..store.models import FulfilmentSetting, table_of
from ..store.raw import Conn, Statement, raw
from ..store.rows import CoreRow
from ..values.clock import rfc3339, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from ..values.platforms import PLATFORMS
from ..values.settings import Settings
from ..webhooks.urls import UrlRefused, check_return_url, check_url, masked
from . import providers
from .clients import VOUCHER, UpstreamError
from .schemas import FulfilmentData, FulfilmentTestData, Redeem, VoucherSet
from .upstream import Upstream

__all__ = ["Redemption", "list_settings", "load", "redemption", "refusal", "save", "test"]

log = logging.getLogger(__name__)

_F = table_of(FulfilmentSetting)


def _context(merchant_id: str, env: str, platform: str) -> str:
    return f"fulfilment:{merchant_id}:{env}:{platform}"


def _platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise ApiError(Code.ROUTE_NOT_FOUND, f"No such platform: expected one of {list(PLATFORMS)}")
    return platform


def allows_loopback(settings: Settings, env: str) -> bool:
    return env == "staging" and settings.allow_private_webhook_urls


def _url_refused(exc: UrlRefused, field: str, what: str) -> ApiError:
    """A refused URL, naming the body's field it came in (the dashboard shows it there)."""
    data = {**(exc.data() or {}), "field": field}
    return ApiError(Code.FULFILMENT_URL_INVALID, f"{what} invalid: {exc}", data=data)


async def _check_url(settings: Settings, env: str, url: str) -> str:
    try:
        await check_url(url, allow_loopback=allows_loopback(settings, env), api_root=True)
    except UrlRefused as exc:
        raise _url_refused(exc, "base_url", "Upstream URL") from None
    return url


def _check_redeem_url(settings: Settings, env: str, url: str) -> str:
    """The address a recipient opens in their browser: judged as a checkout's return URL is
    (https, never an address inside a network; loopback over http where staging allows it)."""
    try:
        check_return_url(
            url, allow_loopback=allows_loopback(settings, env), own_origins=frozenset()
        )
    except UrlRefused as exc:
        raise _url_refused(exc, "redeem_url", "Redemption URL") from None
    return url


def default_redeem_url(provider: str, base_url: str | None) -> str | None:
    """Where a recipient redeems when the merchant named no address: the provider's own page
    (``Provider.redeem_url``); none for the voucher."""
    found = providers.get(provider)
    return found.redeem_url(base_url) if found is not None else None


def _missing_secret(field: str) -> ApiError:
    error = {"loc": [field], "type": "missing", "msg": "Field required: none is saved to keep"}
    return ApiError(
        Code.VALIDATION_FAILED,
        f"{field}: required (none is saved for this provider to keep)",
        data={"errors": [error]},
    )


def _data(env: str, platform: str, row: CoreRow | None) -> FulfilmentData:
    if row is None:
        return FulfilmentData(env=env, platform=platform, provider=VOUCHER, credentials_set=False)
    return FulfilmentData(
        env=env,
        platform=platform,
        provider=row.provider,
        base_url=masked(row.base_url),  # one saved before queries were refused: not in clear
        user_id=row.account,
        quota_per_usd=row.quota_per_usd,
        redeem_url=row.redeem_url,
        redeem_instructions=row.redeem_instructions,
        limit_reset=row.limit_reset,
        key_expires_after_days=row.key_expires_after_days,
        credentials_set=row.credentials_sealed is not None,
        updated_at=rfc3339(row.updated_at),
    )


async def save(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    merchant_id: str,
    env: str,
    platform: str,
    body: VoucherSet | Redeem,
    *,
    now: datetime | None = None,
) -> Outcome:
    """The provider for ``platform`` in ``env``, replacing any before it; ``voucher`` removes
    the row (the default). The credential is sealed here and never shown again; omitted, the
    one saved for the same provider stays (none saved: refused)."""
    platform = _platform(platform)
    now = now or utcnow()
    key = (_F.c.merchant_id == merchant_id, _F.c.env == env, _F.c.platform == platform)
    if isinstance(body, VoucherSet):
        async with db.transaction() as conn:
            await conn.execute(delete(_F).where(*key))
        return Outcome(Code.SUCCESS, _data(env, platform, None))
    provider = providers.of_body(body)
    given = provider.settings(body)
    if body.redeem_url is not None:
        _check_redeem_url(settings, env, body.redeem_url)
    await _check_url(settings, env, given.base_url)
    context = _context(merchant_id, env, platform)
    if given.secret is not None:
        sealed = sealer.seal(given.secret, context=context)
    else:
        async with db.read() as conn:
            kept = (await conn.execute(select(_F).where(*key))).first()
        if kept is None or kept.provider != provider.name or kept.credentials_sealed is None:
            raise _missing_secret(given.secret_field)
        sealed = kept.credentials_sealed
    values = {
        "provider": provider.name,
        "base_url": given.base_url,
        "account": given.account,
        "credentials_sealed": sealed,
        "quota_per_usd": given.quota_per_usd,
        "redeem_url": body.redeem_url,
        "redeem_instructions": body.redeem_instructions,
        "limit_reset": given.limit_reset,
        "key_expires_after_days": given.key_expires_after_days,
        "updated_at": now,
    }
    row = {"merchant_id": merchant_id, "env": env, "platform": platform, "created_at": now}
    async with db.transaction() as conn:
        await conn.execute(
            expressions.upsert(_F)
            .values({**row, **values})
            .on_conflict_do_update(index_elements=["merchant_id", "env", "platform"], set_=values)
        )
        saved = (await conn.execute(select(_F).where(*key))).one()
    return Outcome(Code.SUCCESS, _data(env, platform, saved))


async def list_settings(db: Database, merchant_id: str, env: str) -> Outcome:
    """Every platform's provider in ``env``, the voucher where none is set."""
    async with db.read() as conn:
        rows = (
            await conn.execute(select(_F).where(_F.c.merchant_id == merchant_id, _F.c.env == env))
        ).all()
    by_platform = {r.platform: r for r in rows}
    return Outcome(Code.SUCCESS, [_data(env, p, by_platform.get(p)) for p in PLATFORMS])


_SETTING = Statement.of(
    select(_F).where(
        _F.c.merchant_id == param("merchant_id", String),
        _F.c.env == param("env", String),
        _F.c.platform == param("platform", String),
    )
)


async def load(
    conn: Conn, sealer: Sealer, merchant_id: str, env: str, platform: str
) -> Upstream | None:
    """The upstream that fulfils ``platform`` in ``env``, or ``None`` for the voucher. On the
    driver: a try reads it in ``Database.run``'s read (statements only)."""
    key = {"merchant_id": merchant_id, "env": env, "platform": platform}
    row = await (await raw(conn)).fetchrow(_SETTING, key)
    if row is None or row["provider"] == VOUCHER or row["credentials_sealed"] is None:
        return None
    secret = sealer.open(row["credentials_sealed"], context=_context(merchant_id, env, platform))
    return Upstream(
        row["provider"],
        row["base_url"],
        row["account"],
        secret,
        row["quota_per_usd"],
        merchant_id,
        row["limit_reset"],
        row["key_expires_after_days"],
    )


@dataclass(frozen=True, slots=True)
class Redemption:
    """Where and how a recipient spends what a provider gave them: its public address (the
    merchant's, else the provider's own), one line of the merchant's instructions, and the API
    root a key is spent at (OpenRouter's)."""

    url: str | None
    instructions: str | None
    api_root: str | None
    # New API's quota a dollar, as the merchant set it (unset: New API's default); ``None`` for
    # another provider. A code holds ``values.money.quota_of`` the send's cents at this rate.
    quota_per_usd: int | None = None

    @property
    def host(self) -> str | None:
        return urlsplit(self.url).hostname if self.url else None


async def redemption(
    conn: AsyncConnection, merchant_id: str, env: str, platform: str, provider: str
) -> Redemption:
    """``provider``'s redemption as the merchant set it for ``platform`` in ``env``: the
    provider's defaults when its settings are gone or are another provider's now."""
    key = (_F.c.merchant_id == merchant_id, _F.c.env == env, _F.c.platform == platform)
    row = (await conn.execute(select(_F).where(*key))).first()
    found = providers.get(provider)
    if row is None or row.provider != provider:
        if found is None:
            return Redemption(None, None, None, None)
        return Redemption(found.redeem_url(None), None, found.api_root, found.quota_rate(None))
    url = row.redeem_url or default_redeem_url(provider, row.base_url)
    rate = found.quota_rate(row.quota_per_usd) if found is not None else None
    return Redemption(url, row.redeem_instructions, row.base_url, rate)


def refusal(error: UpstreamError) -> ApiError:
    """An upstream's failure as the API answers it: its outcome in the product's words, never
    what the far side said."""
    code = (
        Code.FULFILMENT_UPSTREAM_UNAVAILABLE
        if error.transient
        else Code.FULFILMENT_UPSTREAM_REFUSED
    )
    data = {"outcome": error.outcome, "transient": error.transient}
    return ApiError(code, error.reason, data=data)


async def test(
    db: Database,
    sealer: Sealer,
    http: httpx.AsyncClient,
    merchant_id: str,
    env: str,
    platform: str,
) -> Outcome:
    """One call the provider's credentials must pass; refused with its outcome (the far side's
    own words go to the log). The caller has counted it (``merchant_limits.FULFILMENT_TEST``)."""
    platform = _platform(platform)
    async with db.read() as conn:
        upstream = await load(conn, sealer, merchant_id, env, platform)
    if upstream is None:
        raise ApiError(Code.FULFILMENT_NOT_CONFIGURED)
    started = time.perf_counter()
    try:
        await providers.provider_for(upstream.provider).check(upstream, http)
    except UpstreamError as exc:
        log.info(
            "fulfilment test of %s %s %s failed: %s (%s)",
            merchant_id, env, platform, exc.outcome, exc.detail,
        )  # fmt: skip
        raise refusal(exc) from None
    took = int((time.perf_counter() - started) * 1000)
    done = FulfilmentTestData(
        platform=platform, provider=upstream.provider, ok=True, duration_ms=took
    )
    return Outcome(Code.SUCCESS, done)
