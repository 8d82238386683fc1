"""The dashboard's policy templates: made with the policy form, named by a key from the key
form, changed only after a preview that says what the change does to each key (and saves
exactly what was previewed), listed with what names them, deleted once nothing does."""

import re

from sqlalchemy import select

from gateway.policies.model import load
from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, PolicyTemplate, PolicyTemplateChange, table_of
from tests.fixtures.dashboard import Account, SignUp

_K = table_of(ApiKeyRow)
_PT = table_of(PolicyTemplate)
_PC = table_of(PolicyTemplateChange)


async def _make_template(account: Account, name: str, **fields: str) -> str:
    form = {"name": name, "scopes": "topup:send", **fields}
    reply = await account.post("/keys/templates", form, page="/keys/templates")
    assert reply.status_code == 303, reply.text[:800]
    found = re.fullmatch(r"/dashboard/keys/templates/(pt_[0-9a-z]{24})", reply.headers["location"])
    assert found is not None, reply.headers["location"]
    return found.group(1)


async def test_a_template_is_previewed_before_it_is_saved(sign_up: SignUp, db: Database) -> None:
    account = await sign_up()
    template_id = await _make_template(account, "support agents", limit_daily="10")

    # The key form offers the template; a key made under it names it.
    keys_page = await account.client.get("/keys")
    assert f'<option value="{template_id}">support agents</option>' in keys_page.text
    made = await account.post(
        "/keys",
        {"name": "agent seven", "scopes": "topup:send", "template": template_id},
        page="/keys",
    )
    assert made.status_code == 303, made.text[:800]
    async with db.read() as conn:
        key = (await conn.execute(select(_K).where(_K.c.name == "agent seven"))).one()
    assert key.template_id == template_id and load(key.policy).template == template_id

    page = await account.client.get(f"/keys/templates/{template_id}")
    assert page.status_code == 200
    assert "agent seven" in page.text and "Preview changes" in page.text
    assert "Save template" not in page.text  # no save before a preview

    edit = f"/keys/templates/{template_id}"
    change = {"name": "support agents", "scopes": "topup:send", "limit_daily": "5"}
    preview = await account.post(f"{edit}/preview", change, page=edit)
    assert preview.status_code == 200, preview.text[:800]
    assert f'data-ref="{key.id}" data-field="limits"' in preview.text
    assert "may do less" in preview.text and "Save template" in preview.text
    async with db.read() as conn:  # nothing saved by a preview
        stored = (await conn.execute(select(_PT.c.policy).where(_PT.c.id == template_id))).one()
    assert load(stored.policy).limits[0].amount_cents == 1_000

    previewed = re.search(r'name="previewed" value="([^"]*)"', preview.text)
    assert previewed is not None
    token = previewed.group(1).replace("&#34;", '"').replace("&quot;", '"')

    # A form changed since its preview is previewed again, not saved.
    changed = await account.post(
        edit, {**change, "limit_daily": "1", "previewed": token}, page=edit
    )
    assert changed.status_code == 200 and "What this change would do" in changed.text
    saved = await account.post(edit, {**change, "previewed": token}, page=edit)
    assert saved.status_code == 303, saved.text[:800]
    async with db.read() as conn:
        stored = (await conn.execute(select(_PT.c.policy).where(_PT.c.id == template_id))).one()
        record = (
            await conn.execute(
                select(_PC.c.action, _PC.c.actor).where(_PC.c.template_id == template_id)
            )
        ).all()
    assert load(stored.policy).limits[0].amount_cents == 500
    assert [r.action for r in record] == ["created", "updated"]
    assert all(r.actor.startswith("user:") for r in record)

    # Named by a key, it is not offered for deletion; once the key is revoked, it is.
    assert "Delete template" not in (await account.client.get(edit)).text
    revoked = await account.post(f"/keys/{key.id}/revoke", {}, page=f"/keys/{key.id}")
    assert revoked.status_code == 303
    assert "Delete template" in (await account.client.get(edit)).text
    gone = await account.post(f"{edit}/delete", {}, page=edit)
    assert gone.status_code == 303
    assert (await account.client.get(edit)).status_code == 404


async def test_a_template_form_with_errors_comes_back_and_saves_nothing(
    sign_up: SignUp, db: Database
) -> None:
    account = await sign_up()
    reply = await account.post(
        "/keys/templates", {"name": "", "limit_daily": "ten"}, page="/keys/templates"
    )
    assert reply.status_code == 422, reply.text[:800]
    assert 'value="ten"' in reply.text
    assert (await account.client.get("/keys/templates/pt_nope")).status_code == 404
    listed = await account.client.get("/keys/templates")
    assert "No staging templates yet." in listed.text
