"""A provider is a module offering ``providers.Provider`` and a line in ``PROVIDERS``: a try
reaches it through the registry alone, and ``topup.fulfilling`` names none."""

import inspect
from typing import Any, Literal

import httpx
import pytest
from sqlalchemy import update

from gateway.store.engine import Database
from gateway.store.models import FulfilmentSetting, table_of
from gateway.topup import fulfilling
from gateway.upstreams import providers
from gateway.upstreams.clients import PROVIDER_UNSET, UpstreamError
from gateway.upstreams.providers import FormField, FormLink, Made, Saved, Try
from gateway.upstreams.schemas import Redeem
from gateway.upstreams.upstream import Upstream
from tests.fixtures.upstreams import MakeUpstreamMerchant, send_body

_F = table_of(FulfilmentSetting)


class TallySet(Redeem):
    provider: Literal["tally"]


class Tally:
    """A provider of the test's own: each credit is a code it makes up, counted."""

    name = "tally"
    title = "Tally"
    body: type[Redeem] = TallySet
    api_root: str | None = None
    form_note = ""
    fields: tuple[FormField, ...] = ()
    links: tuple[FormLink, ...] = ()

    def settings(self, body: Any) -> Saved:
        raise AssertionError("set in the store directly")

    def redeem_url(self, base_url: str | None) -> str | None:
        return None

    def quota_rate(self, saved: int | None) -> int | None:
        return None

    def __init__(self) -> None:
        self.made: list[tuple[str, int, int]] = []

    async def make(self, attempt: Try) -> Made:
        self.made.append((attempt.reference, attempt.number, attempt.topup.amount_cents))
        return Made(f"TALLY-{len(self.made)}", attempt.reference)

    async def undo(self, attempt: Try) -> None:
        raise AssertionError("nothing failed")

    async def check(self, upstream: Upstream, http: httpx.AsyncClient) -> None:
        return None


def test_an_unknown_provider_fails_a_try_for_good() -> None:
    with pytest.raises(UpstreamError) as refused:
        providers.provider_for("no-such-provider")
    assert refused.value.outcome == PROVIDER_UNSET
    assert not refused.value.transient


def test_the_try_names_no_provider() -> None:
    source = inspect.getsource(fulfilling)
    for name in ("NEWAPI", "OPENROUTER", "NewApi", "OpenRouter", "New API", "newapi"):
        assert name not in source, name


async def test_a_provider_added_to_the_registry_fulfils_a_send(
    monkeypatch: pytest.MonkeyPatch,
    newapi_merchant: MakeUpstreamMerchant,
    fulfil_client: httpx.AsyncClient,
    db: Database,
) -> None:
    tally = Tally()
    monkeypatch.setitem(providers.PROVIDERS, "tally", tally)
    merchant = await newapi_merchant(balance_cents=10_000)
    # The merchant's claude sends now name the new provider, credentials and all.
    async with db.transaction() as conn:
        await conn.execute(
            update(_F).where(_F.c.merchant_id == merchant.merchant_id).values(provider="tally")
        )

    sent = await fulfil_client.post(
        "/topup/send", json=send_body(321), headers={**merchant.headers, "Idempotency-Key": "t-1"}
    )
    body = sent.json()
    assert sent.status_code == 200, body
    assert body["code"] == 1001 and body["status"] == "delivered"
    assert body["data"]["fulfilment"]["provider"] == "tally"
    txn = body["transaction_id"]
    assert tally.made == [(txn.removeprefix("txn_")[:20], 1, 321)]
    assert body["data"]["fulfilment"]["reference"] == tally.made[0][0]
