"""OpenRouter: one key per recipient (``upstreams.keys``), its ``limit`` set to the absolute
total delivered to them, never raised by an amount: a try repeated, or two sends at once, set
the same total. The key reaches the recipient alone; the top-up's ``voucher_code`` is ours."""

import asyncio
import logging
from typing import Any

import httpx

from keys import mint_voucher_code

from .. import keys as upstream_keys
from ..clients import OPENROUTER, OpenRouter, UpstreamError, usd
from ..upstream import Upstream
from .base import Made, Try

__all__ = ["OpenRouterProvider"]

log = logging.getLogger(__name__)

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
        lambda tx: upstream_keys.total_cents(tx, row.merchant_id, row.env, row.recipient_email),
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


async def _key_row(attempt: Try) -> Any:
    row = attempt.topup
    return await upstream_keys.key_row(
        attempt.db, row.merchant_id, row.env, OPENROUTER, row.recipient_email, attempt.now()
    )


class OpenRouterProvider:
    async def make(self, attempt: Try) -> Made:
        client = _client(attempt.upstream, attempt.http)
        keyed = await _key_row(attempt)
        key_hash: str | None = keyed.key_hash
        if key_hash is None:
            key_hash = await self._make_key(attempt, client, keyed)
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
                made = await client.create_key(keyed.label, usd(limit))
                if made.key is None:
                    raise RuntimeError("OpenRouter made a key without showing it")
                await upstream_keys.save_key(
                    attempt.db, attempt.sealer, keyed, made.hash, made.key, limit, attempt.now()
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
        if key_hash is None:
            return  # no key was made: no limit to take back
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
