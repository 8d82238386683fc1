"""The dashboard's key policy form with an expiry at the edges of the calendar: the form again,
422, with the Expires field's error and what was typed, never a 500; no key made."""

import pytest
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, table_of
from tests.fixtures.dashboard import SignUp

_K = table_of(ApiKeyRow)


@pytest.mark.parametrize(
    "typed",
    [
        "9999-12-31T23:59",
        "9999-12-31T23:00-05:00",
        "0001-01-01T00:00",
        "0001-01-01T00:00+05:00",
        "1969-12-31T23:59",
        "10000-01-01T00:00",
    ],
)
async def test_an_edge_expiry_is_a_form_error(sign_up: SignUp, db: Database, typed: str) -> None:
    account = await sign_up()
    name = f"edge-{typed}"
    reply = await account.post(
        "/keys", {"name": name, "scopes": "topup:send", "expires_at": typed}, page="/keys"
    )
    assert reply.status_code == 422, reply.text[:500]
    assert f'value="{typed}"' in reply.text  # kept as typed
    async with db.read() as conn:
        made = (await conn.execute(select(_K.c.id).where(_K.c.name == name))).first()
    assert made is None
