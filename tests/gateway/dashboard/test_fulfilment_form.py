"""The Fulfilment form: a refused save says every refusal beside its field (by its label, never
a raw field name) and keeps what was typed but the credential; a save ends in a redirect to the
page (post/redirect/get), which fills the form from what is saved, credentials never; "Save and
test" saves then tests in one step, the test counted as the API's; the test alone redirects
too. Against a New API stand-in on 127.0.0.1."""

import re
from collections.abc import AsyncIterator

import pytest
from starlette.types import ASGIApp

from gateway.merchant_limits import MerchantLimit
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from tests.fixtures.dashboard import Account, dashboard_client, sign_up_on
from tests.fixtures.upstreams import (
    NEWAPI_ADMIN_TOKEN,
    OPENROUTER_MANAGEMENT_KEY,
    NewApiStandIn,
    OpenRouterStandIn,
)

PAGE = "/fulfilment"


@pytest.fixture
async def owner(fulfil_app: ASGIApp) -> AsyncIterator[Account]:
    async with dashboard_client(fulfil_app) as client:
        yield await sign_up_on(client)


def _newapi(root: str, **more: str) -> dict[str, str]:
    form = {
        "provider": "newapi",
        "base_url": root,
        "access_token": NEWAPI_ADMIN_TOKEN,
        "user_id": "1",
        "newapi_redeem_url": root + "/console/topup",
        "newapi_redeem_instructions": "Sign in, then Wallet.",
    }
    return {**form, **more}


def _value(html: str, field_id: str) -> str | None:
    found = re.search(rf'id="{field_id}"[^>]*?value="([^"]*)"', html)
    return found.group(1) if found else None


async def test_a_refused_save_shows_each_refusal_beside_its_field_and_keeps_the_input(
    owner: Account, newapi_standin: tuple[NewApiStandIn, str]
) -> None:
    _, root = newapi_standin
    typed = _newapi(root, user_id="abc", newapi_redeem_url="http://newapi.example.com/topup")
    refused = await owner.post(f"{PAGE}/claude", typed, page=PAGE)
    assert refused.status_code == 422
    html = refused.text
    # Beside the field, described by it; in the list above by its label.
    assert 'id="user_id-claude-error"' in html
    assert re.search(r'id="user_id-claude"[^>]*aria-describedby="[^"]*user_id-claude-error', html)
    assert '<a href="#user_id-claude">Admin user id</a>' in html
    assert "user_id:" not in html and "newapi.user_id" not in html
    # Every refusal at once: the redemption address too, once the body's shape passed.
    fixed = await owner.post(f"{PAGE}/claude", {**typed, "user_id": "1"}, page=PAGE)
    assert fixed.status_code == 422
    assert 'id="newapi_redeem_url-claude-error"' in fixed.text
    assert "Where recipients redeem (New API)</a>" in fixed.text
    # What was typed stays, the token excepted; nothing was saved.
    assert _value(html, "base_url-claude") == root
    assert _value(html, "user_id-claude") == "abc"
    assert NEWAPI_ADMIN_TOKEN not in html
    assert 'value="newapi" selected' in html


async def test_a_save_redirects_to_the_page_which_shows_what_is_saved_but_the_token(
    owner: Account, newapi_standin: tuple[NewApiStandIn, str]
) -> None:
    newapi, root = newapi_standin
    saved = await owner.post(f"{PAGE}/claude", _newapi(root), page=PAGE)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/dashboard/fulfilment?saved=claude#platform-claude"
    html = (await owner.client.get(PAGE + "?saved=claude")).text
    assert "Provider saved" in html
    assert _value(html, "base_url-claude") == root
    assert _value(html, "user_id-claude") == "1"
    assert _value(html, "newapi_redeem_url-claude") == root + "/console/topup"
    assert _value(html, "newapi_redeem_instructions-claude") == "Sign in, then Wallet."
    assert _value(html, "access_token-claude") == ""
    assert "Saved; leave empty to keep it." in html
    assert NEWAPI_ADMIN_TOKEN not in html
    assert f'href="{root}/console/personal"' in html
    assert 'href="https://openrouter.ai/settings/provisioning-keys"' in html

    # Save and test, the token left empty (kept): one step, one test, then the page.
    calls = newapi.faults.calls
    both = await owner.post(
        f"{PAGE}/claude", {**_newapi(root, access_token=""), "then": "test"}, page=PAGE
    )
    assert both.status_code == 303, both.text
    location = both.headers["location"]
    assert location.startswith("/dashboard/fulfilment?saved=claude&tested=claude&result=ok")
    assert newapi.faults.calls == calls + 1
    shown = await owner.client.get(location.removeprefix("/dashboard"))
    assert "Connected to New API in" in shown.text

    # The test alone redirects too; a refused one says its outcome in our words.
    newapi.users[1]["token"] = "rotated"
    tested = await owner.post(f"{PAGE}/claude/test", {}, page=PAGE)
    assert tested.status_code == 303
    shown = await owner.client.get(tested.headers["location"].removeprefix("/dashboard"))
    assert "New API refused the credentials." in shown.text


async def test_the_result_words_come_from_the_page_never_from_the_query(
    owner: Account,
) -> None:
    forged = "?tested=claude&result=<script>x</script>&provider=newapi"
    html = (await owner.client.get(PAGE + forged)).text
    assert "<script>x" not in html and "data-test-result" not in html


async def test_a_save_and_test_past_the_limit_saves_and_says_so(
    owner: Account, newapi_standin: tuple[NewApiStandIn, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(*args: object, **kwargs: object) -> None:
        raise ApiError(Code.FULFILMENT_TEST_RATE_LIMITED, headers={"Retry-After": "42"})

    monkeypatch.setattr(MerchantLimit, "count", refused)
    _, root = newapi_standin
    both = await owner.post(f"{PAGE}/claude", {**_newapi(root), "then": "test"}, page=PAGE)
    assert both.status_code == 303
    shown = await owner.client.get(both.headers["location"].removeprefix("/dashboard"))
    assert "Provider saved" in shown.text
    assert "Too many fulfilment connection tests: try again in 42 s." in shown.text


async def test_openrouters_allowance_is_chosen_saved_and_refused_beside_its_field(
    owner: Account, openrouter_standin: tuple[OpenRouterStandIn, str]
) -> None:
    _, root = openrouter_standin
    form = {
        "provider": "openrouter",
        "management_key": OPENROUTER_MANAGEMENT_KEY,
        "openrouter_base_url": root,
        "openrouter_limit_reset": "weekly",
        "openrouter_key_expires_after_days": "0",
    }
    refused = await owner.post(f"{PAGE}/gemini", form, page=PAGE)
    assert refused.status_code == 422
    html = refused.text
    assert 'id="openrouter_key_expires_after_days-gemini-error"' in html
    listed = '<a href="#openrouter_key_expires_after_days-gemini">Keys expire after (days)</a>'
    assert listed in html
    assert _value(html, "openrouter_key_expires_after_days-gemini") == "0"
    assert '<option value="weekly" selected>Every week</option>' in html

    saved = await owner.post(
        f"{PAGE}/gemini", {**form, "openrouter_key_expires_after_days": "90"}, page=PAGE
    )
    assert saved.status_code == 303, saved.text
    html = (await owner.client.get(PAGE + "?saved=gemini")).text
    assert _value(html, "openrouter_key_expires_after_days-gemini") == "90"
    assert '<option value="weekly" selected>Every week</option>' in html
    assert "keys' limits reset weekly" in html.replace("&#39;", "'")
    assert "keys expire 90 days after their making" in html

    # "No reset" and an empty box leave the allowance unset.
    cleared = {**form, "openrouter_limit_reset": "", "openrouter_key_expires_after_days": ""}
    assert (await owner.post(f"{PAGE}/gemini", cleared, page=PAGE)).status_code == 303
    html = (await owner.client.get(PAGE)).text
    assert '<option value="" selected>No reset</option>' in html
    assert _value(html, "openrouter_key_expires_after_days-gemini") == ""
