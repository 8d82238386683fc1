"""The authorization code flow end to end, in process, on each store: a merchant registers an
app, a person of another merchant consents on the dashboard's page, the app trades the code for
tokens, and a token acts as a key with the consented policy. Each refusal changes nothing."""

import asyncio
import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from sqlalchemy import text
from starlette.types import ASGIApp

from gateway.apps.pending import CODE_PAGE_PATH
from gateway.store.engine import Database
from gateway.values.public_base import DEFAULT_BASE_URL
from tests.fixtures.dashboard import Account, dashboard_client, join_as, sign_up_on
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.oauth import REDIRECT, Flow, register_app


@pytest.fixture
async def person(app: ASGIApp) -> Account:
    return await sign_up_on(dashboard_client(app))


async def _flow(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, **fields: Any
) -> Flow:
    owner = await make_merchant("live")
    made = await register_app(client, owner, **fields)
    return Flow(app, made["id"], made["client_secret"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_acts_as_its_consent_and_nothing_more(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    flow = await _flow(app, client, make_merchant)
    tokens = await flow.tokens(
        person, form={"limit_daily": "5.00", "allowed_platforms": ["claude"]}
    )
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["access_token"].startswith("oat_staging_")
    assert tokens["refresh_token"].startswith("ort_staging_")
    assert set(tokens["scope"].split()) == {"topup:send", "topup:read"}
    me = _bearer(tokens["access_token"])

    balance = await client.get("/balance", headers=me)
    assert balance.status_code == 200, balance.text
    assert balance.json()["data"]["env"] == "staging"
    own = await client.get("/keys/self", headers=me)
    assert own.json()["data"]["policy"]["limits"] == [{"amount_cents": 500, "interval": "daily"}]

    send = {"platform": "claude", "recipient_email": "ada@example.com"}
    sent = await client.post("/topup/send", json={**send, "amount_cents": 400}, headers=me)
    assert sent.status_code == 200, sent.text
    over = await client.post("/topup/send", json={**send, "amount_cents": 200}, headers=me)
    assert over.json()["code"] == 2304  # the consent's daily limit
    gemini = await client.post(
        "/topup/send", json={**send, "platform": "gemini", "amount_cents": 1}, headers=me
    )
    assert gemini.json()["code"] == 2307
    # Never a key's powers: scopes outside the consent are refused.
    keys = await client.get("/keys", headers=me)
    assert keys.json()["code"] == 2301
    apps = await client.get("/apps", headers=me)
    assert apps.json()["code"] == 2301


async def test_a_refresh_token_rotates_and_a_reused_one_revokes_its_family(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    flow = await _flow(app, client, make_merchant)
    first = await flow.tokens(person)
    second = (await flow.refresh(first["refresh_token"])).json()
    assert second["refresh_token"] != first["refresh_token"]
    renewed = await client.get("/balance", headers=_bearer(second["access_token"]))
    assert renewed.status_code == 200

    reused = await flow.refresh(first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    for token in (first["access_token"], second["access_token"]):
        refused = await client.get("/balance", headers=_bearer(token))
        assert refused.json()["code"] == 2405
    gone = await flow.refresh(second["refresh_token"])
    assert gone.json()["error"] == "invalid_grant"


async def test_a_code_works_once_and_its_second_use_revokes_what_it_gave(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    flow = await _flow(app, client, make_merchant)
    code = await flow.code(person)
    first = await flow.token(code)
    assert first.status_code == 200
    again = await flow.token(code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    refused = await client.get("/balance", headers=_bearer(first.json()["access_token"]))
    assert refused.json()["code"] == 2405


async def test_concurrent_exchanges_of_one_code_give_tokens_once(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    flow = await _flow(app, client, make_merchant)
    code = await flow.code(person)
    answers = await asyncio.gather(*(flow.token(code) for _ in range(8)))
    assert sorted(a.status_code for a in answers).count(200) <= 1


async def test_the_exchange_refuses_a_wrong_verifier_redirect_or_secret(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    flow = await _flow(app, client, make_merchant)
    code = await flow.code(person)
    wrong = await flow.token(code, code_verifier="x" * 50)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    moved = await flow.token(code, redirect_uri=REDIRECT + "x")
    assert moved.json()["error"] == "invalid_request"
    secret = await flow.token(code, client_secret="ocs_" + "a" * 43)
    assert secret.status_code == 401
    # None of it used the code up.
    assert (await flow.token(code)).status_code == 200


async def test_the_authorization_endpoint_refuses_what_is_not_registered(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    flow = await _flow(app, client, make_merchant)
    for redirect in (REDIRECT + "/more", REDIRECT[:-1], "https://evil.example/callback"):
        refused = await flow.authorize(redirect_uri=redirect)
        assert refused.status_code == 400, redirect
        assert refused.json()["error"] == "invalid_request"
    beyond = await flow.authorize(scope="topup:send keys")
    assert beyond.status_code == 302
    assert "error=invalid_scope" in beyond.headers["location"]
    assert beyond.headers["location"].startswith(REDIRECT)
    no_pkce = await flow.authorize(code_challenge="")
    assert "error=invalid_request" in no_pkce.headers.get("location", no_pkce.text)


async def _issuer(client: httpx.AsyncClient) -> str:
    metadata = await client.get("http://gateway.test/.well-known/oauth-authorization-server")
    assert metadata.status_code == 200, metadata.text
    assert metadata.json()["authorization_response_iss_parameter_supported"] is True
    found: str = metadata.json()["issuer"]
    return found


def _answer(location: str) -> dict[str, list[str]]:
    assert location.startswith(REDIRECT + "?"), location
    return parse_qs(urlsplit(location).query)


async def test_every_answer_sent_back_to_the_app_names_the_issuer(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    """RFC 9207: the code and every error the authorization endpoint or the consent page sends
    to the app's redirect URI carry ``iss``, the metadata's ``issuer`` to the character; a
    request that cannot be sent back (a redirect URI not the app's) stays on the gateway."""
    issuer = await _issuer(client)
    assert issuer == DEFAULT_BASE_URL
    flow = await _flow(app, client, make_merchant)
    code = await flow.consent(person)
    assert code.status_code == 303, code.text
    given = _answer(code.headers["location"])
    assert given["iss"] == [issuer] and given["state"] == ["st-1"] and given["code"]
    assert f"&iss={quote(issuer, safe='')}" in code.headers["location"]  # URL-encoded
    denied = await flow.consent(person, decision="deny")
    assert _answer(denied.headers["location"])["iss"] == [issuer]

    errors = {
        "invalid_scope": {"scope": "topup:send keys"},
        "invalid_request": {"code_challenge": ""},
        "unsupported_response_type": {"response_type": "token"},
        "invalid_target": {"resource": "https://else.example/mcp"},
    }
    for error, asked in errors.items():
        refused = await flow.authorize(**asked)
        assert refused.status_code == 302, (error, refused.text)
        said = _answer(refused.headers["location"])
        assert said["error"] == [error], said
        assert said["iss"] == [issuer] and said["state"] == ["st-1"], said
        assert refused.headers["cache-control"] == "no-store"
    elsewhere = await flow.authorize(redirect_uri="https://evil.example/callback")
    assert elsewhere.status_code == 400 and "location" not in elsewhere.headers


async def test_a_denial_goes_back_with_access_denied_and_makes_nothing(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    person: Account,
    db: Database,
) -> None:
    flow = await _flow(app, client, make_merchant)
    denied = await flow.consent(person, decision="deny")
    assert denied.status_code == 303
    issuer = quote(DEFAULT_BASE_URL, safe="")
    assert denied.headers["location"] == (f"{REDIRECT}?error=access_denied&state=st-1&iss={issuer}")
    async with db.read() as conn:
        made = await conn.execute(
            text("SELECT count(*) FROM api_keys WHERE app_id = :app"), {"app": flow.client_id}
        )
    assert made.scalar_one() == 0


async def test_an_app_without_a_redirect_of_its_own_gets_its_code_on_the_display_page(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    shown_at = DEFAULT_BASE_URL + CODE_PAGE_PATH
    owner = await make_merchant("live")
    made = await register_app(client, owner, redirect_uris=[shown_at], name="Terminal Tool")
    flow = Flow(app, made["id"], made["client_secret"], redirect_uri=shown_at)

    answered = await flow.consent(person)
    # The page itself, not a redirect: the code never travels in a URL, nor is kept.
    assert answered.status_code == 200, answered.text
    assert answered.headers["cache-control"] == "no-store"
    assert "Terminal Tool" in answered.text
    code = re.search(r'<code id="authorization-code">([^<]+)</code>', answered.text)
    assert code is not None
    assert '<code id="authorization-state">st-1</code>' in answered.text
    tokens = await flow.token(unescape(code.group(1)))
    assert tokens.status_code == 200, tokens.text
    me = _bearer(tokens.json()["access_token"])
    assert (await client.get("/balance", headers=me)).status_code == 200

    denied = await flow.consent(person, decision="deny")
    assert denied.status_code == 200
    assert "You did not connect" in denied.text and "authorization-code" not in denied.text
    # Reached by itself, it explains and shows nothing from its query.
    alone = await person.client.get("/oauth/code", params={"code": "<b>planted</b>"})
    assert alone.status_code == 200
    assert "<b>planted" not in alone.text and "authorization-code" not in alone.text


async def test_a_viewer_cannot_give_what_their_role_cannot(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    viewer = await join_as(app, person, "viewer")
    flow = await _flow(app, client, make_merchant)
    refused = await flow.consent(viewer, form={"scopes": ["topup:send"]})
    assert refused.status_code == 403, refused.text


async def test_the_consent_form_needs_its_csrf_token_and_is_never_framed(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    flow = await _flow(app, client, make_merchant)
    _, sealed = await flow.consent_page(person)
    page = await person.client.get("/oauth/consent", params={"request": sealed})
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    forged = await person.client.post(
        "/oauth/consent", data={"request": sealed, "decision": "approve", "env": "staging"}
    )
    assert forged.status_code == 403


async def test_a_staging_consent_never_reaches_live_data_and_revoke_ends_it(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    flow = await _flow(app, client, make_merchant)
    tokens = await flow.tokens(person)
    me = _bearer(tokens["access_token"])
    assert (await client.get("/balance", headers=me)).json()["data"]["env"] == "staging"
    revoked = await flow.revoke(tokens["refresh_token"])
    assert revoked.status_code == 200
    assert (await client.get("/balance", headers=me)).json()["code"] == 2405


async def test_a_rotated_secret_keeps_the_previous_one_for_the_overlap(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    owner = await make_merchant("live")
    made = await register_app(client, owner)
    rotated = await client.post(f"/apps/{made['id']}/rotate-secret", headers=owner.headers)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["data"]["client_secret"]
    for secret in (made["client_secret"], new_secret):
        flow = Flow(app, made["id"], secret)
        assert (await flow.token(await flow.code(person))).status_code == 200
    listed = await client.get("/apps", headers=owner.headers)
    assert "client_secret" not in listed.json()["data"][0]


async def test_me_names_the_merchant_and_the_app(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    flow = await _flow(app, client, make_merchant)
    tokens = await flow.tokens(person)
    me = (await client.get("/me", headers=_bearer(tokens["access_token"]))).json()["data"]
    assert me["merchant"]["name"] == person.merchant_name
    assert me["env"] == "staging"
    assert me["app"] == {"id": flow.client_id, "name": "Budget Bot"}
    assert me["scopes"] == ["topup:send", "topup:read"]
    key = await make_merchant("live", merchant_id=me["merchant"]["id"])
    by_key = (await client.get("/me", headers=key.headers)).json()["data"]
    assert by_key["app"] is None and by_key["env"] == "live"


async def test_the_merchant_sees_changes_and_revokes_its_connections(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    flow = await _flow(app, client, make_merchant)
    tokens = await flow.tokens(person, form={"limit_daily": "5.00"})
    token = _bearer(tokens["access_token"])
    merchant_id = (await client.get("/me", headers=token)).json()["data"]["merchant"]["id"]
    owner = await make_merchant("staging", merchant_id=merchant_id)
    sent = await client.post(
        "/topup/send",
        json={"platform": "claude", "amount_cents": 300, "recipient_email": "b@example.com"},
        headers=token,
    )
    assert sent.status_code == 200, sent.text

    [connection] = (await client.get("/connections", headers=owner.headers)).json()["data"]
    assert connection["app_id"] == flow.client_id and connection["granted_by"] == person.email
    assert connection["windows"][0]["spent_cents"] == 300
    # Not a key of the merchant's: the keys routes neither list nor touch it.
    keys = (await client.get("/keys", headers=owner.headers)).json()["data"]
    assert connection["id"] not in {k["id"] for k in keys}
    widened = await client.patch(
        f"/keys/{connection['id']}",
        json={"policy": {"scopes": ["keys"]}},
        headers=owner.headers,
    )
    assert widened.json()["code"] == 2006
    beyond = await client.patch(
        f"/connections/{connection['id']}",
        json={"policy": {"scopes": ["topup:read", "keys"]}},
        headers=owner.headers,
    )
    assert beyond.json()["code"] == 2310
    narrowed = await client.patch(
        f"/connections/{connection['id']}",
        json={"policy": {"scopes": ["topup:read"]}},
        headers=owner.headers,
    )
    assert narrowed.status_code == 200, narrowed.text
    refused = await client.post(
        "/topup/send",
        json={"platform": "claude", "amount_cents": 1, "recipient_email": "b@example.com"},
        headers=token,
    )
    assert refused.json()["code"] == 2301  # from the next request on

    revoked = await client.delete(f"/connections/{connection['id']}", headers=owner.headers)
    assert revoked.json()["data"]["revoked_at"] is not None
    assert (await client.get("/balance", headers=token)).json()["code"] == 2405
    renewed = await flow.refresh(tokens["refresh_token"])
    assert renewed.json()["error"] == "invalid_grant"
    other = await make_merchant("staging")
    hidden = await client.get("/connections", headers=other.headers)
    assert hidden.json()["data"] == []


async def test_a_send_by_a_token_names_its_app_in_the_ledger_and_the_event(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    person: Account,
    db: Database,
) -> None:
    flow = await _flow(app, client, make_merchant)
    tokens = await flow.tokens(person)
    sent = await client.post(
        "/topup/send",
        json={"platform": "claude", "amount_cents": 250, "recipient_email": "c@example.com"},
        headers=_bearer(tokens["access_token"]),
    )
    assert sent.status_code == 200, sent.text
    txn = sent.json()["transaction_id"]
    async with db.read() as conn:
        memos = await conn.execute(
            text("SELECT DISTINCT memo FROM ledger_entries WHERE reference = :txn"), {"txn": txn}
        )
        assert [m.memo for m in memos] == [f"sent by app {flow.client_id}"]
        event = await conn.execute(
            text("SELECT payload FROM events WHERE type = 'topup.delivered' AND payload LIKE :p"),
            {"p": f"%{txn}%"},
        )
        assert f'"app_id":"{flow.client_id}"' in event.scalar_one().replace(" ", "")


async def test_deleting_an_app_ends_every_consent_and_token_of_it(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    owner = await make_merchant("live")
    made = await register_app(client, owner)
    flow = Flow(app, made["id"], made["client_secret"])
    tokens = await flow.tokens(person)
    token = _bearer(tokens["access_token"])
    assert (await client.get("/balance", headers=token)).status_code == 200
    deleted = await client.delete(f"/apps/{made['id']}", headers=owner.headers)
    assert deleted.json()["code"] == 1005
    assert (await client.get("/balance", headers=token)).json()["code"] == 2405
    assert (await flow.refresh(tokens["refresh_token"])).status_code == 401  # no such client
    again = await flow.authorize()
    assert again.status_code == 400 and again.json()["error"] == "invalid_request"


async def test_a_token_narrowed_at_its_refresh_acts_with_the_narrower_scopes(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    flow = await _flow(app, client, make_merchant)
    scopes = ["topup:send", "topup:read", "billing"]
    first = await flow.tokens(person, scope=" ".join(scopes), form={"scopes": scopes})
    assert set(first["scope"].split()) == set(scopes)
    narrowed = await flow.refresh(first["refresh_token"], scope="topup:read")
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "topup:read"
    me = _bearer(narrowed.json()["access_token"])

    before = (await client.get("/balance", headers=me)).json()["data"]
    assert (await client.get("/me", headers=me)).json()["data"]["scopes"] == ["topup:read"]
    sent = await client.post(
        "/topup/send",
        json={"platform": "claude", "amount_cents": 100, "recipient_email": "n@example.com"},
        headers=me,
    )
    assert sent.json()["code"] == 2301, sent.text
    charged = await client.post(
        "/charges",
        json={"amount_cents": 100, "description": "Seat"},
        headers={**me, "Idempotency-Key": "narrow-1"},
    )
    assert charged.json()["code"] == 2301, charged.text
    # Neither refusal moved money.
    assert (await client.get("/balance", headers=me)).json()["data"] == before
    # The token it was narrowed from keeps what it recorded until it expires.
    wide = await client.post(
        "/topup/send",
        json={"platform": "claude", "amount_cents": 100, "recipient_email": "n@example.com"},
        headers=_bearer(first["access_token"]),
    )
    assert wide.status_code == 200, wide.text


async def test_a_refresh_answers_only_what_the_consent_still_gives(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    flow = await _flow(app, client, make_merchant)
    tokens = await flow.tokens(person)
    me = (await client.get("/me", headers=_bearer(tokens["access_token"]))).json()["data"]
    owner = await make_merchant("staging", merchant_id=me["merchant"]["id"])
    [connection] = (await client.get("/connections", headers=owner.headers)).json()["data"]
    narrowed = await client.patch(
        f"/connections/{connection['id']}",
        json={"policy": {"scopes": ["topup:read"]}},
        headers=owner.headers,
    )
    assert narrowed.status_code == 200, narrowed.text
    renewed = await flow.refresh(tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["scope"] == "topup:read"


async def test_a_read_only_token_is_challenged_and_steps_up_through_the_consent_page(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, person: Account
) -> None:
    """Step-up on the REST API: a token without ``topup:send`` gets 403 with the
    insufficient_scope challenge and the envelope, nothing sent; a refresh cannot add the
    scope; the app asks again for what the challenge names, the person allows it on the
    consent page, and the same request (its idempotency key too) is sent once."""
    flow = await _flow(app, client, make_merchant)
    read_only = await flow.tokens(person, form={"scopes": ["topup:read"]})
    assert read_only["scope"] == "topup:read"
    me = _bearer(read_only["access_token"])
    before = (await client.get("/balance", headers=me)).json()["data"]["balance_cents"]
    send = {"platform": "claude", "amount_cents": 300, "recipient_email": "ada@example.com"}
    keyed = {"Idempotency-Key": "step-up-1"}
    refused = await client.post("/topup/send", json=send, headers={**me, **keyed})
    assert refused.status_code == 403, refused.text
    challenge = refused.headers["www-authenticate"]
    assert challenge == (
        'Bearer error="insufficient_scope", scope="topup:send topup:read", '
        f'resource_metadata="{DEFAULT_BASE_URL}/.well-known/oauth-protected-resource/api/public/v1"'
    )
    body = refused.json()
    assert (body["success"], body["code"], body["data"]) == (False, 2301, {"scope": "topup:send"})
    listed = await client.get("/topup", headers=me)
    assert listed.json()["data"] == []
    assert (await client.get("/balance", headers=me)).json()["data"]["balance_cents"] == before

    wider = await flow.refresh(read_only["refresh_token"], scope="topup:send topup:read")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope", wider.text

    asked = re.search(r'scope="([^"]+)"', challenge)
    assert asked is not None
    stepped = await flow.tokens(person, scope=asked.group(1))
    assert set(stepped["scope"].split()) == {"topup:send", "topup:read"}
    sent = await client.post(
        "/topup/send", json=send, headers={**_bearer(stepped["access_token"]), **keyed}
    )
    assert sent.status_code == 200 and sent.json()["code"] == 1001, sent.text
    after = (await client.get("/balance", headers=me)).json()["data"]["balance_cents"]
    assert after == before - 300


async def test_a_step_up_gives_no_more_than_the_app_registered(
    app: ASGIApp,
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    person: Account,
    db: Database,
) -> None:
    """An app registered to read asks for sending, as a challenge would have it: the consent
    page offers only reading, and a form that gives sending anyway is refused, nothing made."""
    flow = await _flow(app, client, make_merchant, scopes=["topup:read"])
    html, _ = await flow.consent_page(person, scope="topup:send topup:read")
    assert 'value="topup:read"' in html and 'value="topup:send"' not in html
    forged = await flow.consent(person, scope="topup:send topup:read")
    assert forged.status_code == 403, forged.text
    async with db.read() as conn:
        made = await conn.execute(
            text("SELECT count(*) FROM api_keys WHERE app_id = :app"), {"app": flow.client_id}
        )
    assert made.scalar_one() == 0
