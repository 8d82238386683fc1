"""A key a member made on the dashboard is given by them, as a consent they gave an app is: it
ends when they leave the merchant, or when their role changes to one that could not make it as
it stands (``roles.gives``), from its next request; one that role could still make stands. Keys
made elsewhere (the operator, the CLI, another key) have no giver and are not touched. On each
store, through the dashboard's Keys and Members pages."""

import re

import httpx
import pytest
from sqlalchemy import text
from starlette.types import ASGIApp

from gateway.store.engine import Database
from tests.fixtures.dashboard import Account, dashboard_client, join_as, sign_up_on
from tests.fixtures.merchants import MakeMerchant

_RAW = re.compile(r"ak_staging_[0-9A-Za-z]{32}")


async def _made(member: Account, scopes: str = "topup:read") -> dict[str, str]:
    """A staging key ``member`` makes on the Keys page; the bearer header of the key shown once."""
    shown = await member.shown_once("/keys", {"name": "agent", "scopes": scopes}, page="/keys")
    found = _RAW.search(shown.text)
    assert found is not None, shown.text
    return {"Authorization": f"Bearer {found.group(0)}"}


async def _ids(db: Database, email: str) -> tuple[str, str]:
    """The member's user id and their merchant's id (the owner who invited them)."""
    async with db.read() as conn:
        found = await conn.execute(
            text(
                "SELECT u.id, mu.merchant_id FROM users u "
                "JOIN merchant_users mu ON mu.user_id = u.id WHERE u.email = :e"
            ),
            {"e": email},
        )
        row = found.one()
        return str(row[0]), str(row[1])


async def _works(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    reply = await client.get("/balance", headers=headers)
    return int(reply.json()["code"])


@pytest.mark.parametrize(
    ("role", "ended"), [("viewer", True), ("owner", False), (None, True)], ids=str
)
async def test_a_developers_key_ends_with_their_right_to_make_it(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    role: str | None,
    ended: bool,
) -> None:
    owner = await sign_up_on(dashboard_client(app))
    developer = await join_as(app, owner, "developer")
    theirs = await _made(developer)
    owners = await _made(owner)
    developer_id, merchant_id = await _ids(db, developer.email)
    operators = await make_merchant("staging", merchant_id=merchant_id)
    assert await _works(client, theirs) == 1000

    if role is None:
        done = await owner.post(f"/members/{developer_id}/remove", {}, page="/members")
    else:
        done = await owner.post(f"/members/{developer_id}/role", {"role": role}, page="/members")
    assert done.status_code == 303, done.text
    assert await _works(client, theirs) == (2004 if ended else 1000)
    # The owner's key, and a key the operator made, have other givers: they stand.
    assert await _works(client, owners) == 1000
    assert await _works(client, operators.headers) == 1000


async def test_an_owners_key_ends_where_their_new_role_could_not_make_it(
    app: ASGIApp, client: httpx.AsyncClient, db: Database
) -> None:
    owner = await sign_up_on(dashboard_client(app))
    other = await join_as(app, owner, "owner")
    reading = await _made(owner)  # a developer may make this one in staging
    approving = await _made(owner, "approvals")  # and not this one
    assert await _works(client, approving) == 2301  # standing, without the scope to read
    owner_id, _ = await _ids(db, owner.email)
    done = await other.post(f"/members/{owner_id}/role", {"role": "developer"}, page="/members")
    assert done.status_code == 303, done.text
    assert await _works(client, reading) == 1000
    assert await _works(client, approving) == 2004
