"""New API: a redemption code per top-up, made through the instance's admin API.

New API has no idempotency of its own, so a try after the first asks for a code under our
reference before it makes one: a try that died after New API answered issues no second code."""

import httpx

from ...values.money import NEWAPI_QUOTA_PER_USD, quota_of
from ..clients import NewApi
from ..upstream import Upstream
from .base import Made, Try

__all__ = ["DEFAULT_QUOTA_PER_USD", "NewApiProvider", "client"]

DEFAULT_QUOTA_PER_USD = NEWAPI_QUOTA_PER_USD  # New API's own default


def client(upstream: Upstream, http: httpx.AsyncClient) -> NewApi:
    """Its calls in its merchant's share of ``http``'s pool."""
    account = upstream.account or ""
    return NewApi(http, upstream.base_url, upstream.secret, account, upstream.merchant_id)


class NewApiProvider:
    async def make(self, attempt: Try) -> Made:
        made = client(attempt.upstream, attempt.http)
        code = await made.find_code(attempt.reference) if attempt.number > 1 else None
        if code is None:
            quota = quota_of(attempt.topup.amount_cents, attempt.upstream.quota_per_usd)
            code = await made.create_code(attempt.reference, quota)
        return Made(code, attempt.reference)

    async def undo(self, attempt: Try) -> None:
        """Nothing is taken back at New API: a code is made only once its top-up is debited,
        and the work that made it delivers it or finds it again."""

    async def check(self, upstream: Upstream, http: httpx.AsyncClient) -> None:
        await client(upstream, http).check()
