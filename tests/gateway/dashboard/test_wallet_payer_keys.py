"""The Wallet page's payer keys card: an owner makes, removes and imports the wallet's x402
payer key through the API's operations, the page showing its address and never its private key;
a key that is not one is refused with a fixed sentence and nothing kept; a developer sees the
address and no form."""

from typing import Any

from eth_account import Account as EvmAccount
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import Merchant, PayerKey, table_of
from tests.fixtures.dashboard import Account, SignUp, join_as

WALLET = "/wallet"
SET = "/wallet/payer-keys"
_M, _K = table_of(Merchant), table_of(PayerKey)


async def _rows(db: Database, account: Account) -> list[Any]:
    async with db.read() as conn:
        mine = select(_M.c.id).where(_M.c.name == account.merchant_name).scalar_subquery()
        return list(await conn.execute(select(_K).where(_K.c.merchant_id == mine)))


async def _after(account: Account, path: str, data: dict[str, str]) -> str:
    reply = await account.post(path, data, page=WALLET)
    assert reply.status_code == 303, reply.text
    location = reply.headers["location"]
    assert location.startswith("/dashboard/wallet?payer=") and location.endswith("#payer-keys")
    page = await account.client.get(location.removeprefix("/dashboard"))
    assert page.status_code == 200
    return page.text


async def test_an_owner_makes_removes_and_imports_a_payer_key(
    sign_up: SignUp, db: Database
) -> None:
    owner = await sign_up()
    page = (await owner.client.get(WALLET)).text
    assert 'id="payer-keys"' in page and 'id="payer-x402-form"' in page
    assert 'id="payer-x402-address">No key set' in page

    made = await _after(owner, SET, {"protocol": "x402", "private_key": ""})
    assert "Payer key made: fund its address on chain." in made
    [row] = await _rows(db, owner)
    assert f"<code>{row.address}</code>" in made and 'id="payer-x402-remove"' in made
    assert row.env == "staging"

    removed = await _after(owner, "/wallet/payer-keys/x402/remove", {})
    assert "Payer key removed." in removed and 'id="payer-x402-address">No key set' in removed
    assert await _rows(db, owner) == []

    for bad in ("0x1234", "0x" + "0" * 64, "not a key at all"):
        refused = await _after(
            owner, "/wallet/payer-keys", {"protocol": "x402", "private_key": bad}
        )
        assert "That is not a private key" in refused
        assert bad not in refused
        assert await _rows(db, owner) == []

    mine = EvmAccount.create()
    secret = "0x" + bytes(mine.key).hex()
    imported = await _after(
        owner, "/wallet/payer-keys", {"protocol": "x402", "private_key": secret}
    )
    assert "Payer key imported." in imported and mine.address in imported
    assert secret[2:] not in imported
    again = await _after(owner, SET, {"protocol": "x402", "private_key": ""})
    assert "A payer key is set already: remove it first." in again
    assert [r.address for r in await _rows(db, owner)] == [mine.address]


async def test_a_developer_sees_the_address_and_no_form(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    owner = await sign_up()
    await _after(owner, SET, {"protocol": "x402", "private_key": ""})
    [row] = await _rows(db, owner)
    developer = await join_as(app, owner, "developer")
    page = (await developer.client.get(WALLET)).text
    assert row.address in page
    assert 'id="payer-x402-remove"' not in page and 'id="payer-x402-form"' not in page
    refused = await developer.post("/wallet/payer-keys/x402/remove", {}, page=WALLET)
    assert refused.status_code == 403, refused.text
    assert len(await _rows(db, owner)) == 1
