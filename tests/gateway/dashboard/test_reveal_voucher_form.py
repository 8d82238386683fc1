"""The key policy form's ``reveal_voucher`` checkbox: the policy says what was ticked, and the
form shows it again when the policy is edited."""

import re
import uuid

from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, table_of
from tests.fixtures.dashboard import SignUp

_K = table_of(ApiKeyRow)


async def _policy(db: Database, name: str) -> tuple[str, dict[str, object]]:
    """The id and policy of the key named ``name`` (or with the id ``name``)."""
    async with db.read() as conn:
        found = select(_K.c.id, _K.c.policy).where((_K.c.name == name) | (_K.c.id == name))
        row = (await conn.execute(found)).one()
    return row.id, row.policy


async def test_the_policy_form_sets_and_shows_reveal_voucher(sign_up: SignUp, db: Database) -> None:
    account = await sign_up()
    reveals, keeps = f"reveals-{uuid.uuid4().hex[:8]}", f"keeps-{uuid.uuid4().hex[:8]}"
    page = await account.client.get("/keys")
    assert 'name="reveal_voucher"' in page.text
    shown = await account.post(
        "/keys", {"name": reveals, "scopes": "topup:send", "reveal_voucher": "on"}, page="/keys"
    )
    assert shown.status_code == 303, shown.text
    hidden = await account.post("/keys", {"name": keeps, "scopes": "topup:send"}, page="/keys")
    assert hidden.status_code == 303, hidden.text
    key_id, policy = await _policy(db, reveals)
    assert policy["reveal_voucher"] is True
    assert (await _policy(db, keeps))[1]["reveal_voucher"] is False

    form = await account.client.get(f"/keys/{key_id}")
    assert form.status_code == 200, form.text
    box = re.search(r'<input id="f-reveal_voucher"[^>]*>', form.text)
    assert box is not None and "checked" in box.group(0)
    # Unticked on the edit form: the policy keeps the code back again.
    edited = await account.post(
        f"/keys/{key_id}/policy", {"name": reveals, "scopes": "topup:send"}, page=f"/keys/{key_id}"
    )
    assert edited.status_code == 303, edited.text
    assert (await _policy(db, key_id))[1]["reveal_voucher"] is False
