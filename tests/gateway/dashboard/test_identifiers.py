"""Names the API reads, shown on a page (a key's scopes, an endpoint's event types), are code in
every language: never English words left on a Chinese or Japanese page, never joined by one
language's comma. As ``make run``'s demo key shows them, with every scope."""

import pytest
from starlette.types import ASGIApp

from gateway.accounts import users
from gateway.policies.model import SCOPES
from gateway.store.engine import Database
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.languages import latin_left, untranslated
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy


@pytest.mark.parametrize("language", ["zh", "ja"])
async def test_a_keys_scopes_are_code_on_every_page(
    app: ASGIApp, db: Database, make_merchant: MakeMerchant, language: str
) -> None:
    owner = await sign_up_on(dashboard_client(app))
    user = await users.check_password(db, owner.email, owner.password)
    assert user is not None
    key = await make_merchant("staging", merchant_id=user.merchant_id)
    await set_policy(db, key.key_id, {"scopes": list(SCOPES)})
    owner.client.headers["Accept-Language"] = language
    page = await owner.client.get("/keys")
    assert page.status_code == 200, page.text
    assert not latin_left(page.text), latin_left(page.text)
    assert not untranslated(page.text, language)
    assert " ".join(f"<code>{scope}</code>" for scope in SCOPES) in page.text
