"""A key acts within what its maker may give: one made by a dashboard member whose role does not
reveal codes (a developer) sees no spendable code, the gateway's own voucher included, through
every door (REST's send, top-up reads and list, the staging mailbox; MCP's tools), and nor does
a key that key makes. An owner's keys keep today's behaviour. Minting never gives more than the
maker holds. Both stores."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import MerchantUser, User, table_of
from gateway.values.settings import Settings
from tests.fixtures.core import live_server
from tests.fixtures.dashboard import Account, dashboard_client, join_as, sign_up_on
from tests.fixtures.mcp import envelope_of, mcp_http, send_args
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.upstreams import send_body

_U = table_of(User)
_MU = table_of(MerchantUser)
_RAW_KEY = re.compile(r"ak_staging_[0-9A-Za-z]{32}")
_SCOPES = ["topup:send", "topup:read", "keys"]


@pytest.fixture
async def fulfil_root(fulfil_settings: Settings) -> AsyncIterator[str]:
    async with live_server(fulfil_settings) as root:
        yield root


@pytest.fixture
async def owner_and_developer(fulfil_app: ASGIApp) -> AsyncIterator[tuple[Account, Account]]:
    owner = await sign_up_on(dashboard_client(fulfil_app))
    developer = await join_as(fulfil_app, owner, "developer")
    yield owner, developer
    for account in (owner, developer):
        await account.client.aclose()


async def _merchant_of(db: Database, email: str) -> str:
    async with db.read() as conn:
        found = await conn.execute(
            select(_MU.c.merchant_id).join(_U, _U.c.id == _MU.c.user_id).where(_U.c.email == email)
        )
        merchant_id: str = found.scalar_one()
    return merchant_id


async def _made_on_dashboard(member: Account) -> str:
    """A staging key the member makes on the Keys page, read off the page that shows it once."""
    data = {"name": "agent", "scopes": _SCOPES, "csrf_token": await member.csrf("/keys")}
    posted = await member.client.post("/keys", data=data)
    assert posted.status_code == 303, posted.text
    shown = await member.client.get(posted.headers["location"].removeprefix("/dashboard"))
    [raw] = set(_RAW_KEY.findall(shown.text))
    return str(raw)


async def _made_by_key(client: httpx.AsyncClient, maker: str) -> str:
    made = await client.post(
        "/keys",
        json={"policy": {"scopes": ["topup:send", "topup:read"]}},
        headers={"Authorization": f"Bearer {maker}"},
    )
    assert made.status_code == 201, made.text
    raw: str = made.json()["data"]["key"]
    return raw


async def test_a_key_a_developer_made_sees_no_code_on_any_door_nor_do_its_keys(
    owner_and_developer: tuple[Account, Account],
    fulfil_client: httpx.AsyncClient,
    fulfil_root: str,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    owner, developer = owner_and_developer
    merchant_id = await _merchant_of(db, owner.email)
    await make_merchant("staging", merchant_id=merchant_id, balance_cents=10_000)
    by_developer = await _made_on_dashboard(developer)
    by_owner = await _made_on_dashboard(owner)
    cases = {
        "developer's": (by_developer, False),
        "made by the developer's": (await _made_by_key(fulfil_client, by_developer), False),
        "owner's": (by_owner, True),
        "made by the owner's": (await _made_by_key(fulfil_client, by_owner), True),
    }
    for n, (which, (raw, sees)) in enumerate(cases.items()):
        headers = {"Authorization": f"Bearer {raw}"}
        body = send_body(100, f"r{n}@example.com")
        sent = await fulfil_client.post("/topup/send", json=body, headers=headers)
        assert sent.json()["code"] == 1001, sent.text
        code = sent.json()["data"]["voucher_code"]
        txn = sent.json()["transaction_id"]
        one = (await fulfil_client.get(f"/topup/{txn}", headers=headers)).json()["data"]
        listed = (await fulfil_client.get("/topup", headers=headers)).json()["data"]
        mails = (await fulfil_client.get("/emails", headers=headers)).json()["data"]
        [mail] = [m for m in mails if m["transaction_id"] == txn]
        # The code itself, as the merchant's first key (made without a policy) reads it.
        actual = one["voucher_code"] if sees else None
        if sees:
            assert code is not None and code.startswith("ATU-"), which
            assert code in mail["text"] and mail["link"], which
        else:
            assert code is None and one["voucher_code"] is None, which
            assert all(t["voucher_code"] is None for t in listed), which
            assert "ATU-" not in mail["text"] + mail["html"] and mail["link"] is None, which
        async with mcp_http(fulfil_root, raw) as session:
            sent_mcp = await envelope_of(session, "send_topup", send_args(f"idem-{n}"))
            read = await envelope_of(session, "get_topup", {"transaction_id": txn})
            listed_mcp = await envelope_of(session, "list_topups", {"limit": 50})
        assert sent_mcp.code == 1001, sent_mcp.text
        assert (sent_mcp.data["voucher_code"] is not None) is sees, which
        assert read.data["voucher_code"] == actual, which
        shown = [t["voucher_code"] for t in listed_mcp.data if t["voucher_code"] is not None]
        assert bool(shown) is sees, which
        if not sees:
            assert "ATU-" not in sent_mcp.text + read.text + listed_mcp.text, which
