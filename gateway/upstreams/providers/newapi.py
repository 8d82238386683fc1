"""New API: a redemption code per top-up, made through the instance's admin API.

New API has no idempotency of its own, so a try after the first asks for a code under our
reference before it makes one: a try that died after New API answered issues no second code."""

from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import Field

from ...values.marking import marked
from ...values.money import NEWAPI_QUOTA_PER_USD, quota_of
from ..clients import (
    CREDENTIALS_REFUSED,
    NOT_THE_PROVIDER,
    REQUEST_REFUSED,
    Api,
    UpstreamError,
    message,
)
from ..schemas import Redeem
from ..upstream import Upstream
from .base import FormField, FormLink, Made, Saved, Try

__all__ = [
    "DEFAULT_QUOTA_PER_USD",
    "NEWAPI",
    "TITLE",
    "TOPUP_PAGE",
    "NewApi",
    "NewApiProvider",
    "NewApiSet",
    "client",
]

NEWAPI = "newapi"
TITLE = "New API"
# New API's own default: 500,000 quota units a US dollar (the unit rule: ``values.money``).
DEFAULT_QUOTA_PER_USD = NEWAPI_QUOTA_PER_USD
# New API's console page where a user redeems a code (Wallet: "Redemption code").
TOPUP_PAGE = "/console/topup"

# New API's redemption statuses (common.RedemptionCodeStatus*): enabled, disabled, used.
_CODE_STATES = {1: "unused", 2: "disabled", 3: "spent"}


class NewApiSet(Redeem):
    provider: Literal["newapi"]
    base_url: str = Field(
        min_length=1, max_length=2048, description="The New API instance, absolute http(s)."
    )
    access_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="An admin's access token; sealed, never shown. Omitted: the one saved "
        "for this platform's New API stays.",
    )
    user_id: int = Field(ge=1, le=2**31 - 1, description="That admin's user id (New-Api-User).")
    quota_per_usd: int = Field(
        default=DEFAULT_QUOTA_PER_USD,
        ge=1,
        le=10**9,
        description="Quota units one US dollar buys on this instance.",
    )


@dataclass(frozen=True, slots=True)
class NewApi:
    """A New API instance's admin API: an admin's access token and its user id, both sent on
    every call (``Authorization: <token>``, ``New-Api-User: <id>``). Answers are
    ``{success, message, data}``, HTTP 200 even for a refusal."""

    http: httpx.AsyncClient
    base_url: str
    access_token: str
    user_id: str
    share: str | None = None  # whose share of the pool its calls hold (a merchant's id)

    def _api(self) -> Api:
        headers = {"Authorization": self.access_token, "New-Api-User": self.user_id}
        return Api(self.http, TITLE, self.base_url, headers, self.share)

    async def _envelope(self, method: str, path: str, **kwargs: Any) -> Any:
        body = await self._api().body(method, path, **kwargs)
        if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
            raise UpstreamError(TITLE, NOT_THE_PROVIDER, transient=False)
        if body["success"] is not True:
            raise UpstreamError(
                TITLE, REQUEST_REFUSED, transient=False, detail=message(body) or "no reason"
            )
        return body.get("data")

    async def create_code(self, name: str, quota: int) -> str:
        """One redemption code of ``quota``, never expiring, named ``name`` (≤ 20 characters):
        the code."""
        data = await self._envelope(
            "POST",
            "/api/redemption/",
            json={"name": name, "count": 1, "quota": quota, "expired_time": 0},
        )
        if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], str):
            raise UpstreamError(TITLE, NOT_THE_PROVIDER, transient=False, detail="no one code")
        return data[0]

    async def find_code(self, name: str) -> str | None:
        """The code an earlier try made under ``name``, if any (the oldest, should there be
        more): New API has no idempotency, so this is what a retry asks first."""
        data = await self._envelope("GET", "/api/redemption/search", params={"keyword": name})
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise UpstreamError(TITLE, NOT_THE_PROVIDER, transient=False, detail="no items")
        found = [i for i in items if isinstance(i, dict) and i.get("name") == name]
        found.sort(key=lambda item: int(item.get("id") or 0))
        key = found[0].get("key") if found else None
        return key if isinstance(key, str) and key else None

    async def code_state(self, name: str, code: str) -> str | None:
        """Whether code ``code``, made under ``name``, was redeemed: ``spent`` (New API's
        status 3, used), ``unused`` (1, enabled), ``disabled`` (2); ``None`` if the search
        does not find it. The same search a retry makes (``find_code``)."""
        data = await self._envelope("GET", "/api/redemption/search", params={"keyword": name})
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise UpstreamError(TITLE, NOT_THE_PROVIDER, transient=False, detail="no items")
        for item in items:
            if isinstance(item, dict) and item.get("key") == code:
                status = item.get("status")
                return _CODE_STATES.get(status) if isinstance(status, int) else None
        return None

    async def check(self) -> None:
        """A read that needs the admin's rights: the credentials work. Its refusal in New API's
        envelope (HTTP 200, ``success`` false) is a refusal of the credentials."""
        try:
            await self._envelope("GET", "/api/redemption/search", params={"keyword": "atu-check"})
        except UpstreamError as exc:
            if exc.outcome != REQUEST_REFUSED or exc.status is not None:
                raise
            raise UpstreamError(
                TITLE, CREDENTIALS_REFUSED, transient=False, detail=exc.detail
            ) from None


def client(upstream: Upstream, http: httpx.AsyncClient) -> NewApi:
    """Its calls in its merchant's share of ``http``'s pool."""
    account = upstream.account or ""
    return NewApi(http, upstream.base_url, upstream.secret, account, upstream.merchant_id)


_NUMBER = 'inputmode="numeric" maxlength="12"'


class NewApiProvider:
    name: str = NEWAPI
    title: str = TITLE
    body: type[Redeem] = NewApiSet
    api_root: str | None = None
    form_note: str = marked("(only when the provider is New API)")
    fields: tuple[FormField, ...] = (
        FormField(
            "base_url",
            "base_url",
            marked("New API address"),
            marked("Your instance's address, e.g. https://newapi.example.com"),
            type="url",
            attrs='maxlength="2048"',
        ),
        FormField(
            "access_token",
            "access_token",
            marked("Admin access token"),
            marked(
                "In New API: Personal settings (/console/personal), Security settings, "
                "System access token, Generate token."
            ),
            type="password",
            attrs='maxlength="512" autocomplete="off"',
            secret=True,
        ),
        FormField(
            "user_id",
            "user_id",
            marked("Admin user id"),
            marked("The ID shown on the same Personal settings page (sent as New-Api-User)."),
            attrs=_NUMBER,
            whole=True,
        ),
        FormField(
            "quota_per_usd",
            "quota_per_usd",
            marked("Quota per USD"),
            marked("Default 500000, New API's own."),
            attrs=_NUMBER,
            whole=True,
        ),
        FormField(
            "newapi_redeem_url",
            "redeem_url",
            marked("Where recipients redeem (New API)"),
            marked(
                "The page your recipients open to redeem a code, e.g. "
                "https://newapi.example.com/console/topup (default: /console/topup on the "
                "address above)."
            ),
            type="url",
            attrs='maxlength="2048"',
        ),
        FormField(
            "newapi_redeem_instructions",
            "redeem_instructions",
            marked("Instructions (New API)"),
            marked(
                "Optional: one line of plain text shown beside the button, e.g. how to sign in."
            ),
            attrs='maxlength="300"',
        ),
    )
    links: tuple[FormLink, ...] = (
        FormLink(
            marked("Open Personal settings on your New API instance"),
            path="/console/personal",
            tail=marked("to make an access token."),
        ),
    )

    def settings(self, body: Any) -> Saved:
        given: NewApiSet = body
        return Saved(
            given.base_url,
            given.access_token,
            "access_token",
            str(given.user_id),
            given.quota_per_usd,
        )

    def redeem_url(self, base_url: str | None) -> str | None:
        """New API's own top-up page on the instance."""
        return base_url.rstrip("/") + TOPUP_PAGE if base_url else None

    def code_states(self, upstream: Upstream, http: httpx.AsyncClient) -> NewApi:
        return client(upstream, http)

    def quota_rate(self, saved: int | None) -> int | None:
        return saved or DEFAULT_QUOTA_PER_USD

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
