"""Sending from the dashboard (``/dashboard/topups/send``): the API's own send, made as the key
the owner picks, under that key's policy; the reply's envelope is the API's (the same code for
the same body and key), a form posted twice is one top-up, bad input is a field's error with
nothing sent. Only an owner sends (CSRF-checked, as every form), and only as a key of their
merchant and environment."""

import re

import httpx
from sqlalchemy import func, select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import Topup, table_of
from tests.fixtures.core import asgi_client
from tests.fixtures.dashboard import Account, SignUp, csrf_of, join_as

PAGE = "/topups/send"
_T = table_of(Topup)
_RAW_KEY = re.compile(r"ak_staging_[0-9A-Za-z]{32}")
_KEY_ID = re.compile(r'<option value="(key_[0-9a-z]{24})"')
_ATTEMPT = re.compile(r'name="attempt" value="([^"]+)"')


async def _key(account: Account, name: str, **policy: str) -> tuple[str, str]:
    """A key made on the Keys page: its raw value and its id."""
    made = await account.shown_once(
        "/keys", {"name": name, "scopes": "topup:send", **policy}, page="/keys"
    )
    raw = _RAW_KEY.search(made.text)
    assert raw is not None, made.text
    form = await account.client.get(PAGE)
    ids = _KEY_ID.findall(form.text)
    names = re.findall(r'<option value="key_[0-9a-z]{24}"[^>]*>([^<(]+)', form.text)
    return raw.group(), ids[[n.strip() for n in names].index(name)]


async def _topups(db: Database, merchant_key: str | None = None) -> int:
    async with db.read() as conn:
        where = [] if merchant_key is None else [_T.c.api_key_id == merchant_key]
        return int(
            (await conn.execute(select(func.count()).select_from(_T).where(*where))).scalar_one()
        )


async def _post(account: Account, data: dict[str, str]) -> httpx.Response:
    form = await account.client.get(PAGE)
    attempt = _ATTEMPT.search(form.text)
    assert attempt is not None
    return await account.client.post(
        PAGE, data={**data, "csrf_token": csrf_of(form.text), "attempt": attempt.group(1)}
    )


async def test_a_send_from_the_form_is_the_apis_as_the_key_picked(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    owner = await sign_up()
    empty = await owner.client.get(PAGE)
    assert 'id="no-sender"' in empty.text
    raw, key_id = await _key(owner, "shop")
    body = {"key_id": key_id, "platform": "claude", "amount": "7.00",
            "recipient_email": "lee@example.com", "note": "Thanks!"}  # fmt: skip

    form = await owner.client.get(PAGE)
    attempt = _ATTEMPT.search(form.text)
    assert attempt is not None
    posted = {**body, "csrf_token": csrf_of(form.text), "attempt": attempt.group(1)}
    sent = await owner.client.post(PAGE, data=posted)
    assert sent.status_code == 200, sent.text
    assert 'id="reply-code">1001<' in sent.text
    txn = re.search(r"&#34;transaction_id&#34;: &#34;(txn_[0-9a-z]+)&#34;", sent.text)
    assert txn is not None, sent.text
    # Posted again (a double click): the same reply, one top-up, the key's.
    again = await owner.client.post(PAGE, data=posted)
    assert txn.group(1) in again.text
    assert await _topups(db, key_id) == 1
    async with db.read() as conn:
        row = (await conn.execute(select(_T).where(_T.c.id == txn.group(1)))).one()
    assert (row.amount_cents, row.recipient_email, row.api_key_id) == (
        700,
        "lee@example.com",
        key_id,
    )
    assert row.metadata == {"note": "Thanks!"}
    assert raw.startswith("ak_staging_")


async def test_the_keys_policy_refuses_here_as_it_does_at_the_api(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    owner = await sign_up()
    raw, key_id = await _key(owner, "capped", max_per_send="5")
    body = {"platform": "claude", "amount_cents": 700, "recipient_email": "lee@example.com"}
    async with asgi_client(app) as api:
        at_api = await api.post(
            "/topup/send", json=body, headers={"Authorization": f"Bearer {raw}"}
        )
    code = at_api.json()["code"]
    assert at_api.status_code >= 400, at_api.text
    here = await _post(owner, {"key_id": key_id, "platform": "claude", "amount": "7",
                               "recipient_email": "lee@example.com"})  # fmt: skip
    assert here.status_code == at_api.status_code
    assert f'id="reply-code">{code}<' in here.text and 'id="send-error"' in here.text
    assert await _topups(db, key_id) == 0


async def test_bad_input_a_foreign_key_and_other_roles_send_nothing(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    owner, other = await sign_up(), await sign_up()
    _, key_id = await _key(owner, "mine")
    _, foreign = await _key(other, "theirs")
    before = await _topups(db)
    good = {"key_id": key_id, "platform": "claude", "amount": "7",
            "recipient_email": "lee@example.com"}  # fmt: skip
    bad = (("amount", "7.001"), ("amount", "lots"), ("recipient_email", "nope"),
           ("platform", "nonesuch"), ("key_id", foreign), ("key_id", "x"))  # fmt: skip
    for field, value in bad:
        refused = await _post(owner, {**good, field: value})
        assert refused.status_code in (401, 422), (field, value, refused.status_code)
        assert 'id="send-error"' in refused.text, (field, value)
    viewer = await join_as(app, owner, "viewer")
    assert (await viewer.post(PAGE, good, page=PAGE)).status_code == 403
    forged = await owner.client.post(PAGE, data={**good, "csrf_token": "forged"})
    assert forged.status_code == 403
    assert await _topups(db) == before


async def test_a_merchant_with_no_key_makes_one_in_place_and_sends(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    """Signed up, no key yet: the Send page offers to make one there (the Keys page's own
    service, its cap and audit), and comes back with it picked; a viewer cannot."""
    owner = await sign_up()
    empty = await owner.client.get(PAGE)
    assert 'id="make-sender"' in empty.text and 'id="send-form"' not in empty.text
    made = await owner.post(f"{PAGE}/key", {}, page=PAGE)
    assert made.status_code == 303, made.text
    back = await owner.client.get(made.headers["location"].removeprefix("/dashboard"))
    [key_id] = _KEY_ID.findall(back.text)
    assert f'<option value="{key_id}" selected>Dashboard sends' in back.text
    assert not _RAW_KEY.search(back.text)  # its value is shown nowhere
    sent = await _post(owner, {"key_id": key_id, "platform": "claude", "amount": "7",
                               "recipient_email": "lee@example.com"})  # fmt: skip
    assert 'id="reply-code">1001<' in sent.text
    assert await _topups(db, key_id) == 1
    viewer = await join_as(app, owner, "viewer")
    assert (await viewer.post(f"{PAGE}/key", {}, page=PAGE)).status_code == 403


async def test_a_frozen_environment_refuses_the_send_and_links_the_kill_switch(
    sign_up: SignUp, db: Database
) -> None:
    """A freeze is not the form's fault: the refusal is the send's ("The send was refused"),
    with the page that lifts it linked, never "Please correct"."""
    owner = await sign_up()
    _, key_id = await _key(owner, "shop")
    assert (await owner.post("/freeze", {"held": "keep"}, page="/freeze")).status_code == 303
    refused = await _post(owner, {"key_id": key_id, "platform": "claude", "amount": "7",
                                  "recipient_email": "lee@example.com"})  # fmt: skip
    assert refused.status_code == 423
    assert 'id="reply-code">2360<' in refused.text
    assert "The send was refused:" in refused.text and "Please correct" not in refused.text
    assert 'href="/dashboard/freeze"' in refused.text.split('id="frozen-help"', 1)[1]
    assert await _topups(db, key_id) == 0
    # Unfrozen, a mistake in the form is one to correct.
    assert (await owner.post("/freeze/off", {}, page="/freeze")).status_code == 303
    wrong = await _post(owner, {"key_id": key_id, "platform": "claude", "amount": "lots",
                                "recipient_email": "lee@example.com"})  # fmt: skip
    assert "Please correct:" in wrong.text and 'id="frozen-help"' not in wrong.text
