"""OpenRouter: one key per recipient (``upstreams.keys``), its ``limit`` set to the absolute
total delivered to them, never raised by an amount: a try repeated, or two sends at once, set
the same total. The key reaches the recipient alone; the top-up's ``voucher_code`` is ours.

A merchant may give the keys an allowance: their limit reset daily, weekly or monthly
(OpenRouter's ``limit_reset``) and an expiry some days after their making (``expires_at``),
both set when a key is made; a key made before keeps what it was made with. An expired key
takes no more sends (each fails, refunded), since OpenRouter refuses every call with it."""

import asyncio
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Literal

import httpx
from pydantic import Field

from keys import mint_voucher_code

from ...values.marking import marked
from .. import keys as upstream_keys
from ..clients import KEY_EXPIRED, NOT_THE_PROVIDER, Api, UpstreamError
from ..schemas import Redeem
from ..upstream import Upstream
from .base import FormField, FormLink, KeyFigures, Made, Saved, Try

__all__ = [
    "BASE_URL",
    "LIMIT_RESETS",
    "MAX_EXPIRY_DAYS",
    "OPENROUTER",
    "SITE",
    "TITLE",
    "OpenRouter",
    "OpenRouterKey",
    "OpenRouterProvider",
    "OpenRouterSet",
    "figures",
    "usd",
]

log = logging.getLogger(__name__)

OPENROUTER = "openrouter"
TITLE = "OpenRouter"
BASE_URL = "https://openrouter.ai/api/v1"
SITE = "https://openrouter.ai"  # where a person spends an OpenRouter key
# OpenRouter's own values of a key's ``limit_reset`` (at midnight UTC; weeks from Monday).
LIMIT_RESETS = ("daily", "weekly", "monthly")
MAX_EXPIRY_DAYS = 3650


class OpenRouterSet(Redeem):
    provider: Literal["openrouter"]
    management_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="A management key; sealed, never shown. Omitted: the one saved for this "
        "platform's OpenRouter stays.",
    )
    base_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="OpenRouter's API root; unset, https://openrouter.ai/api/v1.",
    )
    limit_reset: Literal["daily", "weekly", "monthly"] | None = Field(
        default=None,
        description="Each key made for a recipient from now on has its limit reset daily, "
        "weekly or monthly (OpenRouter's limit_reset: at midnight UTC, weeks from Monday): the "
        "recipient may spend the total sent to them again every period. Unset: never.",
    )
    key_expires_after_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_EXPIRY_DAYS,
        description="Each key made for a recipient from now on expires this many days after "
        "its making (OpenRouter's expires_at); an expired key takes no more sends. Unset: never.",
    )


@dataclass(frozen=True, slots=True)
class OpenRouterKey:
    hash: str
    key: str | None  # shown only when the key is created
    limit_usd: float | None


@dataclass(frozen=True, slots=True)
class OpenRouter:
    """OpenRouter's key management API, with a management key (``Authorization: Bearer``).
    A key's ``limit`` is in US dollars."""

    http: httpx.AsyncClient
    management_key: str
    base_url: str = BASE_URL
    share: str | None = None  # whose share of the pool its calls hold (a merchant's id)
    cap: int | None = None  # the most of an answer read (``None``: every upstream call's)

    def _api(self) -> Api:
        headers = {"Authorization": f"Bearer {self.management_key}"}
        if self.cap is None:
            return Api(self.http, TITLE, self.base_url, headers, self.share)
        return Api(self.http, TITLE, self.base_url, headers, self.share, self.cap)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        body = await self._api().body(method, path, **kwargs)
        if not isinstance(body, dict):
            raise UpstreamError(TITLE, NOT_THE_PROVIDER, transient=False, detail="not an object")
        return body

    @staticmethod
    def _key(data: Any, key: Any = None) -> OpenRouterKey:
        if not isinstance(data, dict) or not isinstance(data.get("hash"), str):
            raise UpstreamError(TITLE, NOT_THE_PROVIDER, transient=False, detail="no key")
        limit = data.get("limit")
        return OpenRouterKey(
            data["hash"],
            key if isinstance(key, str) else None,
            float(limit) if isinstance(limit, int | float) else None,
        )

    async def create_key(
        self,
        name: str,
        limit_usd: float,
        *,
        limit_reset: str | None = None,
        expires_at: datetime | None = None,
    ) -> OpenRouterKey:
        """A key named ``name``; ``limit_reset`` and ``expires_at`` (UTC, whole seconds) only
        when given, so a key without an allowance is asked for as it always was."""
        asked: dict[str, Any] = {"name": name, "limit": limit_usd}
        if limit_reset is not None:
            asked["limit_reset"] = limit_reset
        if expires_at is not None:
            asked["expires_at"] = expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = await self._call("POST", "/keys", json=asked)
        made = self._key(body.get("data"), body.get("key"))
        if made.key is None:
            raise UpstreamError(TITLE, NOT_THE_PROVIDER, transient=False, detail="no new key")
        return made

    async def set_limit(self, key_hash: str, limit_usd: float) -> OpenRouterKey:
        body = await self._call("PATCH", f"/keys/{key_hash}", json={"limit": limit_usd})
        return self._key(body.get("data"))

    async def get_key(self, key_hash: str) -> OpenRouterKey:
        body = await self._call("GET", f"/keys/{key_hash}")
        return self._key(body.get("data"))

    async def key_data(self, key_hash: str) -> dict[str, Any]:
        """The key as OpenRouter answers it (``GET /keys/{hash}``'s ``data``): what it spent
        and has left, its reset and expiry (``figures``)."""
        body = await self._call("GET", f"/keys/{key_hash}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise UpstreamError(TITLE, NOT_THE_PROVIDER, transient=False, detail="no key")
        return data

    async def disable_named(self, name: str) -> int:
        """Disable every key named ``name`` among the most recent (a making whose answer was
        lost left it, its secret with it): how many."""
        body = await self._call("GET", "/keys", params={"offset": 0})
        listed = body.get("data")
        if not isinstance(listed, list):
            raise UpstreamError(
                TITLE, NOT_THE_PROVIDER, transient=False, detail="a list without data"
            )
        found = [k for k in listed if isinstance(k, dict) and k.get("name") == name]
        for key in found:
            if not key.get("disabled"):
                await self._call("PATCH", f"/keys/{key['hash']}", json={"disabled": True})
        return len(found)

    async def check(self) -> None:
        """Listing keys needs a management key: the credentials work."""
        body = await self._call("GET", "/keys", params={"offset": 0})
        if not isinstance(body.get("data"), list):
            raise UpstreamError(
                TITLE, NOT_THE_PROVIDER, transient=False, detail="a list without data"
            )


def usd(cents: int) -> float:
    """Cents as OpenRouter's dollars (exact for every whole number of cents we send)."""
    return round(cents / 100, 2)


_MILLIONTH = Decimal("0.000001")


def _cents(usd: Any, rounding: str) -> int | None:
    """OpenRouter's dollars as whole cents, rounded as said, past the float's noise (to a
    millionth of a dollar first: 0.1 + 0.2 is 30 cents); ``None`` for no number."""
    if isinstance(usd, bool) or not isinstance(usd, int | float) or not math.isfinite(usd):
        return None
    try:
        dollars = Decimal(repr(usd)).quantize(_MILLIONTH)
    except InvalidOperation:  # past what a figure may be
        return None
    return max(int((dollars * 100).to_integral_value(rounding=rounding)), 0)


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        return None
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def figures(data: dict[str, Any]) -> KeyFigures:
    """A key as ``GET /keys/{hash}`` answers it (its ``data``), as ``KeyFigures``; a key
    without a usage is no answer of OpenRouter's."""
    reset = data.get("limit_reset")
    reset = reset if reset in LIMIT_RESETS else None
    period = data.get(f"usage_{reset}") if reset is not None else None
    used = _cents(period if period is not None else data.get("usage"), ROUND_CEILING)
    if used is None:
        raise UpstreamError(TITLE, NOT_THE_PROVIDER, transient=False, detail="no usage")
    limit = _cents(data.get("limit"), ROUND_FLOOR)
    left = None
    if limit is not None:  # OpenRouter always says it; else what the limit leaves of the use
        left = _cents(data.get("limit_remaining"), ROUND_FLOOR)
        left = max(limit - used, 0) if left is None else left
    return KeyFigures(
        used, limit, left, reset, _instant(data.get("expires_at")), data.get("disabled") is True
    )


# How often a try sets the limit again when the total moved meanwhile.
_CONVERGE = 8
# Keys being made, held until saved even if their try stopped waiting.
_making: set["asyncio.Future[str]"] = set()


def _client(upstream: Upstream, http: httpx.AsyncClient) -> OpenRouter:
    """Its calls in its merchant's share of ``http``'s pool."""
    return OpenRouter(http, upstream.secret, upstream.base_url, upstream.merchant_id)


async def _total(attempt: Try) -> int:
    """The recipient's absolute total (``keys.total_cents``), read by key on the driver."""
    row = attempt.topup
    return await attempt.db.run(
        lambda tx: upstream_keys.total_cents(
            tx, row.merchant_id, row.env, row.recipient_email, OPENROUTER
        ),
        read_only=True,
    )


async def _set_total(attempt: Try, client: OpenRouter, keyed: Any, key_hash: str) -> None:
    """The one rule of OpenRouter's limit: set to the recipient's absolute total, read again
    after, until what was set is still the total."""
    set_to = None
    for _ in range(_CONVERGE):
        limit = await _total(attempt)
        if limit == set_to:
            break
        await client.set_limit(key_hash, usd(limit))
        set_to = limit
    if set_to is None:  # _CONVERGE is at least one
        raise RuntimeError("the limit was never set")
    await upstream_keys.set_limit(attempt.db, keyed.id, set_to, attempt.now())


def _expired(keyed: Any, now: datetime) -> bool:
    """Whether the recipient's key was made with an expiry that has passed."""
    expires: datetime | None = keyed.expires_at
    return expires is not None and expires <= now


def _expiry(attempt: Try) -> datetime | None:
    """When a key made now expires, if its platform's settings say it does."""
    days = attempt.upstream.key_expires_after_days
    if days is None:
        return None
    return attempt.now().replace(microsecond=0) + timedelta(days=days)


async def _key_row(attempt: Try) -> Any:
    row = attempt.topup
    return await upstream_keys.key_row(
        attempt.db, row.merchant_id, row.env, OPENROUTER, row.recipient_email, attempt.now()
    )


class OpenRouterProvider:
    name: str = OPENROUTER
    title: str = TITLE
    body: type[Redeem] = OpenRouterSet
    api_root: str | None = BASE_URL
    form_note: str = marked("(only when the provider is OpenRouter)")
    fields: tuple[FormField, ...] = (
        FormField(
            "management_key",
            "management_key",
            marked("Management key"),
            marked(
                "A provisioning (management) key, made at openrouter.ai/settings/provisioning-keys."
            ),
            type="password",
            attrs='maxlength="512" autocomplete="off"',
            secret=True,
        ),
        FormField(
            "openrouter_base_url",
            "base_url",
            marked("API root"),
            marked("Default https://openrouter.ai/api/v1."),
            type="url",
            attrs='maxlength="2048"',
        ),
        FormField(
            "openrouter_limit_reset",
            "limit_reset",
            marked("Limit resets"),
            marked(
                "Each recipient may spend what was sent to them again every day, week or month "
                "(at midnight UTC; weeks start on Monday), paid from your OpenRouter credit. "
                "Applies to keys made from now on."
            ),
            options=(
                ("", marked("No reset")),
                ("daily", marked("Every day")),
                ("weekly", marked("Every week")),
                ("monthly", marked("Every month")),
            ),
        ),
        FormField(
            "openrouter_key_expires_after_days",
            "key_expires_after_days",
            marked("Keys expire after (days)"),
            marked(
                "1 to 3650, counted from each key's making; empty: never. Applies to keys made "
                "from now on; an expired key takes no more sends."
            ),
            type="number",
            attrs='min="1" max="3650" step="1" inputmode="numeric"',
            whole=True,
        ),
        FormField(
            "openrouter_redeem_url",
            "redeem_url",
            marked("Where recipients redeem (OpenRouter)"),
            marked("The site your recipients use their key on (default https://openrouter.ai)."),
            type="url",
            attrs='maxlength="2048"',
        ),
        FormField(
            "openrouter_redeem_instructions",
            "redeem_instructions",
            marked("Instructions (OpenRouter)"),
            marked("Optional: one line of plain text shown beside the button."),
            attrs='maxlength="300"',
        ),
    )
    links: tuple[FormLink, ...] = (
        FormLink(
            marked("Make a provisioning key on OpenRouter"),
            href="https://openrouter.ai/settings/provisioning-keys",
            after="management_key",
        ),
    )

    def settings(self, body: Any) -> Saved:
        given: OpenRouterSet = body
        return Saved(
            given.base_url or BASE_URL,
            given.management_key,
            "management_key",
            limit_reset=given.limit_reset,
            key_expires_after_days=given.key_expires_after_days,
        )

    def redeem_url(self, base_url: str | None) -> str | None:
        """OpenRouter's site, wherever its API is reached."""
        return SITE

    def quota_rate(self, saved: int | None) -> int | None:
        return None

    async def make(self, attempt: Try) -> Made:
        client = _client(attempt.upstream, attempt.http)
        keyed = await _key_row(attempt)
        key_hash: str | None = keyed.key_hash
        if key_hash is None:
            key_hash = await self._make_key(attempt, client, keyed)
        elif _expired(keyed, attempt.now()):
            # OpenRouter refuses every call with it: credit sent there could never be spent.
            raise UpstreamError(TITLE, KEY_EXPIRED, transient=False, detail="key expired")
        await _set_total(attempt, client, keyed, key_hash)
        return Made(mint_voucher_code(attempt.topup.env), attempt.reference)

    async def _make_key(self, attempt: Try, client: OpenRouter, keyed: Any) -> str:
        # Long past any try's own bound: a slow maker (a loaded store, a slow upstream) is
        # never taken over, which would make a second key; a dead one delays this recipient.
        settings = attempt.settings
        lease = max(upstream_keys.CLAIM_SECONDS, 4 * settings.fulfilment_timeout_seconds)
        row_id: str = keyed.id
        if not await upstream_keys.claim_creation(attempt.db, row_id, attempt.now(), lease):
            raise upstream_keys.KeyBeingMade

        async def make() -> str:
            try:
                if keyed.updated_at != upstream_keys.NEVER_CLAIMED:
                    await client.disable_named(keyed.label)
                limit = await _total(attempt)
                expires_at = _expiry(attempt)
                made = await client.create_key(
                    keyed.label,
                    usd(limit),
                    limit_reset=attempt.upstream.limit_reset,
                    expires_at=expires_at,
                )
                if made.key is None:
                    raise RuntimeError("OpenRouter made a key without showing it")
                await upstream_keys.save_key(
                    attempt.db,
                    attempt.sealer,
                    keyed,
                    made.hash,
                    made.key,
                    limit,
                    attempt.now(),
                    expires_at=expires_at,
                )
            except BaseException:
                await upstream_keys.release(attempt.db, row_id)
                raise
            return made.hash

        # Once asked for, the key is kept whatever the caller's deadline (the send's inline
        # try): cut between its making and its saving, it would be made again by the next try.
        making = asyncio.ensure_future(make())
        _making.add(making)
        making.add_done_callback(_making.discard)
        return await asyncio.shield(making)

    async def undo(self, attempt: Try) -> None:
        """The top-up's amount left the total (refunded), but an earlier try (its own, or a
        concurrent send's) may have set the key's limit with it counted: set the limit back to
        the total. A failure here is logged: the recipient's next send sets the total again."""
        keyed = await _key_row(attempt)
        key_hash: str | None = keyed.key_hash
        if key_hash is None or _expired(keyed, attempt.now()):
            return  # no key was made, or none can be spent: no limit to take back
        client = _client(attempt.upstream, attempt.http)
        try:
            async with asyncio.timeout(attempt.settings.fulfilment_timeout_seconds):
                await _set_total(attempt, client, keyed, key_hash)
        except (UpstreamError, TimeoutError):
            log.warning(
                "OpenRouter limit not set back after a failure",
                extra={"transaction_id": attempt.topup.id},
            )

    async def check(self, upstream: Upstream, http: httpx.AsyncClient) -> None:
        await _client(upstream, http).check()

    async def key_figures(
        self, upstream: Upstream, http: httpx.AsyncClient, key_hash: str, cap: int
    ) -> KeyFigures:
        """Read for the recipient's page, outside any merchant's share of the pool."""
        client = OpenRouter(http, upstream.secret, upstream.base_url, cap=cap)
        return figures(await client.key_data(key_hash))
