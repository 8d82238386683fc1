"""A link to a recipient's page shows the sends until its own, never one made after it was
mailed (a fresh link shows it), and the merchant ends every link of a recipient made until now,
through the API or the dashboard: the page and its live stream stop, a fresh link works. Both
stores."""

import time
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import MerchantUser, User, table_of
from gateway.values.settings import Settings
from tests.fixtures.core import live_server, local_client
from tests.fixtures.dashboard import SignUp, csrf_of, dashboard_client
from tests.fixtures.merchants import MakeMerchant, MerchantKey

DEE = "dee@example.com"
_U = table_of(User)
_MU = table_of(MerchantUser)


def _send(cents: int) -> dict[str, object]:
    return {"platform": "claude", "amount_cents": cents, "recipient_email": DEE}


async def _link(client: httpx.AsyncClient, merchant: MerchantKey, txn: str) -> str:
    """The path of the link the voucher mail of ``txn`` carries, as the mailbox shows it."""
    mails = (await client.get("/emails", headers=merchant.headers)).json()["data"]
    link: str = next(m for m in mails if m["transaction_id"] == txn)["link"]
    return link.split("/dashboard", 1)[1]


async def _sent(client: httpx.AsyncClient, merchant: MerchantKey, cents: int) -> tuple[str, str]:
    reply = await client.post("/topup/send", json=_send(cents), headers=merchant.headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    return body["transaction_id"], body["data"]["voucher_code"]


async def test_a_link_shows_the_sends_until_its_own_and_revoking_ends_it(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    first, first_code = await _sent(client, merchant, 1100)
    mailed = await _link(client, merchant, first)
    second, second_code = await _sent(client, merchant, 2200)
    async with dashboard_client(app) as browser:
        shown = await browser.get(mailed)
        assert shown.status_code == 200, shown.text
        assert first_code in shown.text
        # Sent after the link was mailed: not on its page.
        assert second_code not in shown.text and second not in shown.text
        fresh = await _link(client, merchant, second)
        both = await browser.get(fresh)
        assert first_code in both.text and second_code in both.text

        path = f"/recipients/{quote(DEE)}/revoke-links"
        revoked = await client.post(path, headers=merchant.headers)
        assert revoked.status_code == 200, revoked.text
        assert (revoked.json()["code"], revoked.json()["data"]["email"]) == (1114, DEE)
        for old in (mailed, fresh):
            gone = await browser.get(old)
            assert gone.status_code == 404 and first_code not in gone.text
            assert "Send me a fresh link" in gone.text
            assert (await browser.get(f"{old}/live")).status_code == 404
        # A link made after the revocation works.
        again = await browser.get(await _link(client, merchant, second))
        assert again.status_code == 200 and second_code in again.text


async def test_revoking_refuses_an_unknown_recipient_and_a_key_without_send(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    unknown = await client.post(
        "/recipients/nobody%40example.com/revoke-links", headers=merchant.headers
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, 4232)
    bad = await client.post("/recipients/not-an-address/revoke-links", headers=merchant.headers)
    assert (bad.status_code, bad.json()["code"]) == (404, 4232)
    await _sent(client, merchant, 500)
    made = await client.post(
        "/keys", json={"policy": {"scopes": ["topup:read"]}}, headers=merchant.headers
    )
    reader = {"Authorization": f"Bearer {made.json()['data']['key']}"}
    refused = await client.post(f"/recipients/{quote(DEE)}/revoke-links", headers=reader)
    assert (refused.status_code, refused.json()["code"]) == (403, 2301)


async def _merchant_of(db: Database, email: str) -> str:
    async with db.read() as conn:
        found = await conn.execute(
            select(_MU.c.merchant_id).join(_U, _U.c.id == _MU.c.user_id).where(_U.c.email == email)
        )
        merchant_id: str = found.scalar_one()
    return merchant_id


async def test_an_owner_revokes_on_the_dashboard(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    sign_up: SignUp,
    db: Database,
) -> None:
    owner = await sign_up()
    merchant = await make_merchant("staging", merchant_id=await _merchant_of(db, owner.email))
    txn, _ = await _sent(client, merchant, 1300)
    mailed = await _link(client, merchant, txn)
    listed = await owner.client.get("/recipients")
    assert 'action="/dashboard/recipients/revoke-links"' in listed.text
    done = await owner.post("/recipients/revoke-links", {"email": DEE}, page="/recipients")
    assert done.status_code == 303, done.text
    async with dashboard_client(app) as browser:
        assert (await browser.get(mailed)).status_code == 404


async def _lines(stream: httpx.Response) -> AsyncIterator[str]:
    async for block in stream.aiter_text():
        for event in block.split("\n\n"):
            if event.strip():
                yield event.strip().splitlines()[0]


async def test_revoking_ends_an_open_stream_of_the_page_within_a_poll(
    settings: Settings, make_merchant: MakeMerchant
) -> None:
    async with live_server(settings) as root:
        api = local_client(base_url=f"{root}/api/public/v1")
        page = local_client(base_url=f"{root}/dashboard")
        async with api, page:
            merchant = await make_merchant("staging")
            txn, _ = await _sent(api, merchant, 900)
            mailed = await _link(api, merchant, txn)
            async with page.stream("GET", f"{mailed}/live") as stream:
                assert stream.status_code == 200
                lines = _lines(stream)
                assert (await anext(lines)).startswith("retry:")
                assert await anext(lines) == "event: update"
                path = f"/recipients/{quote(DEE)}/revoke-links"
                assert (await api.post(path, headers=merchant.headers)).status_code == 200
                revoked = time.monotonic()
                rest = [line async for line in lines if line != ": keep-alive"]
                took = time.monotonic() - revoked
            # One poll (1 s) and a busy machine's lag, not the heartbeat's 15 s nor the expiry.
            assert rest == [] and took < 10.0
            assert csrf_of((await page.get(mailed)).text)  # the page offers a fresh link
