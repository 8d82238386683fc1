"""The Payments page: what the environment's agents paid sellers (newest first, by state, paged
by cursor as the API pages them), one payment's page, and what each seller was paid in the
current windows with what each key may still pay it; never a credential; every role that sees
the wallet sees it; live; in every language."""

import re
from html import unescape
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import update
from starlette.types import ASGIApp

from gateway.accounts import users
from gateway.callers import authenticate
from gateway.dashboard import figures
from gateway.dashboard import payments as page
from gateway.sellers import states
from gateway.sellers.authorizing import read
from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, table_of
from gateway.values.clock import utcnow
from tests.fixtures.core import TEST_PEPPER
from tests.fixtures.dashboard import Account, SignUp, join_as
from tests.fixtures.languages import latin_left, untranslated
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.policies import set_policy, spend_rows
from tests.fixtures.seller_payments import SELLER, pay
from tests.fixtures.tally_payer import TallyPayer, challenge

OTHER = "https://other.example/report"
_K = table_of(ApiKeyRow)
POLICY = {
    "scopes": ["payments:send"],
    "per_payee_limit": {"amount_cents": 100, "interval": "daily"},
}


async def _agent(db: Database, make_merchant: MakeMerchant, owner: Account) -> MerchantKey:
    """A key named "agent" of the owner's merchant, that may pay sellers up to $1 a day each."""
    user = await users.check_password(db, owner.email, owner.password)
    assert user is not None
    key = await make_merchant("staging", merchant_id=user.merchant_id)
    await set_policy(db, key.key_id, POLICY)
    async with db.transaction() as conn:
        await conn.execute(update(_K).where(_K.c.id == key.key_id).values(name="agent"))
    return key


async def _move(
    db: Database, payment_id: str, target: str, *, used_cents: int | None = None
) -> None:
    async with db.transaction() as conn:
        row = await read(conn, payment_id)
        told = await states.move(
            conn, SimpleNamespace(**row._asdict()), target, utcnow(), used_cents=used_cents
        )
    assert told is not None


def _rows(html: str, table: str) -> list[str]:
    found = re.search(rf'<table class="cards" id="{table}">(.*?)</table>', html, re.S)
    assert found is not None, html
    return re.findall(r"<tr data-\w+=.*?</tr>", found.group(1), re.S)


def _ids(html: str) -> list[str]:
    return re.findall(r'<tr data-payment="(pay_[0-9a-z]+)"', html)


async def test_the_page_lists_payments_and_what_each_seller_was_paid(
    client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    sign_up: SignUp,
    tally: TallyPayer,
) -> None:
    owner = await sign_up()
    empty = await owner.client.get("/payments")
    assert empty.status_code == 200
    assert "No payments yet" in empty.text and "No seller was paid" in empty.text
    # In the navigation, beside the wallet.
    nav = re.search(r'<nav class="nav".*?</nav>', empty.text, re.S)
    assert nav is not None
    labels = re.findall(r'<a href="/dashboard/(\w*)"', nav.group())
    assert labels[labels.index("wallet") + 1] == "payments"
    assert '<a href="/dashboard/payments" aria-current="page">Payments' in nav.group()

    agent = await _agent(db, make_merchant, owner)
    made = []
    for n, url in enumerate((SELLER, SELLER, SELLER, OTHER)):
        payee = "acct_other" if url == OTHER else "acct_seller"
        said = challenge(20 + n, payee=payee)
        reply = await pay(client, agent, f"k-{n}", url=url, said=said)
        assert reply.status_code == 201, reply.text
        made.append(reply.json()["data"])
    authorized, used, released, other = (m["id"] for m in made)
    await _move(db, used, states.USED, used_cents=15)
    await _move(db, released, states.RELEASED)

    shown = await owner.client.get("/payments")
    assert shown.status_code == 200
    assert _ids(shown.text) == [other, released, used, authorized]  # newest first
    # Never a credential: not one the agent was shown.
    for each in made:
        assert each["value"] not in shown.text
    rows = dict(zip(_ids(shown.text), _rows(shown.text, "payments"), strict=True))
    text = {
        pid: " ".join(unescape(re.sub(r"<[^>]+>", " ", row)).split()) for pid, row in rows.items()
    }
    assert "authorized" in text[authorized] and "$0.20" in text[authorized]
    assert "acct_seller https://api.seller.example" in text[authorized]
    assert "tally" in text[authorized] and "Expires 2099-01-01 00:00 UTC" in text[authorized]
    assert "used" in text[used] and "$0.15 taken" in text[used] and "Used " in text[used]
    assert "released" in text[released] and "Released " in text[released]
    assert "https://other.example" in text[other]

    # Per seller (where the money went), what it holds in each window: 20 held, 15 taken, 22
    # given back.
    sellers = _rows(shown.text, "per-seller")
    assert [re.search(r'data-payee="([^"]+)"', r).group(1) for r in sellers] == [  # type: ignore[union-attr]
        "tally:acct_other",
        "tally:acct_seller",
    ]
    seller = " ".join(unescape(re.sub(r"<[^>]+>", " ", sellers[1])).split())
    assert seller.startswith("tally:acct_seller $0.35 $0.35 $0.35")
    # And what the key may still pay it: its daily per-seller window, as the store counts it.
    spent = await spend_rows(db, agent.key_id)
    [(bucket, (cents, limit))] = [
        (b, v) for b, v in spent.items() if b.endswith(":tally:acct_seller")
    ]
    assert (cents, limit) == (35, 100) and bucket.startswith("payee:daily:")
    assert "$0.65 left of $1.00 daily agent" in seller and "resets" in seller

    # One payment's page: its facts, never its credential.
    one = await owner.client.get(f"/payments/{used}")
    assert one.status_code == 200
    assert re.search(r'id="status">used<', one.text) and 'id="used">$0.15<' in one.text
    assert (
        f'id="url">{SELLER}<' in one.text and 'id="origin">https://api.seller.example<' in one.text
    )
    assert "Tally-Payment" in one.text and made[1]["value"] not in one.text
    assert 'data-funded-by="wallet"' in one.text and "the operator's treasury paid" in one.text
    assert 'id="ended">' in one.text


async def test_filtered_by_state_and_paged_by_cursor(
    client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    sign_up: SignUp,
    tally: TallyPayer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(page, "PAGE_SIZE", 2)
    owner = await sign_up()
    agent = await _agent(db, make_merchant, owner)
    made = [
        (await pay(client, agent, f"k-{n}", said=challenge(1))).json()["data"]["id"]
        for n in range(5)
    ]
    await _move(db, made[1], states.RELEASED)
    first = await owner.client.get("/payments")
    assert _ids(first.text) == [made[4], made[3]]
    older = re.search(r'href="(/dashboard/payments\?status=&amp;cursor=pay_[0-9a-z]+)"', first.text)
    assert older is not None
    second = await owner.client.get(unescape(older.group(1)).removeprefix("/dashboard"))
    assert _ids(second.text) == [made[2], made[1]]
    assert "Clear" in second.text
    third = await owner.client.get(
        unescape(re.search(r'href="/dashboard(/payments\?[^"]+)">Older', second.text).group(1))  # type: ignore[union-attr]
    )
    assert _ids(third.text) == [made[0]] and "Older payments" not in third.text

    only = await owner.client.get("/payments?status=released")
    assert _ids(only.text) == [made[1]]
    assert '<option value="released" selected>' in only.text
    assert "Older payments" not in only.text
    authorized = await owner.client.get("/payments?status=authorized")
    assert (
        _ids(authorized.text) == [made[4], made[3]]
        and "status=authorized&amp;cursor=" in authorized.text
    )
    none = await owner.client.get("/payments?status=used")
    assert _ids(none.text) == [] and "No payments in this state." in none.text
    # What is not a state or a cursor is no filter, and never an error.
    for odd in ("?status=nonsense", "?cursor=txn_x", "?cursor=" + "z" * 300, "?status=used%20"):
        reply = await owner.client.get("/payments" + odd)
        assert reply.status_code == 200, odd
        assert _ids(reply.text) == [made[4], made[3]], odd


async def test_every_role_sees_it_and_no_other_merchant_or_environment(
    app: ASGIApp,
    client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    sign_up: SignUp,
    tally: TallyPayer,
) -> None:
    owner = await sign_up()
    agent = await _agent(db, make_merchant, owner)
    paid = (await pay(client, agent, "k-1")).json()["data"]["id"]
    for role in ("developer", "viewer"):
        member = await join_as(app, owner, role)
        assert _ids((await member.client.get("/payments")).text) == [paid], role
        assert (await member.client.get(f"/payments/{paid}")).status_code == 200, role
    stranger = await sign_up()
    shown = await stranger.client.get("/payments")
    assert _ids(shown.text) == [] and "acct_seller" not in shown.text
    assert (await stranger.client.get(f"/payments/{paid}")).status_code == 404
    assert (await stranger.client.get("/payments/pay_nonsense")).status_code == 404
    # The owner's live environment has none of staging's.
    switched = await owner.post("/env", {"env": "live", "next": "/dashboard/payments"})
    assert switched.status_code == 303, switched.text
    live = await owner.client.get("/payments")
    assert "Live" in live.text and _ids(live.text) == [] and "acct_seller" not in live.text
    assert (await owner.client.get(f"/payments/{paid}")).status_code == 404


async def test_a_payment_that_moves_changes_what_the_live_pages_watch(
    client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    sign_up: SignUp,
    tally: TallyPayer,
) -> None:
    """The list is a live page: the overview's stream tells it to fetch itself again once the
    environment's payments changed, a move that leaves the wallet as it was included."""
    owner = await sign_up()
    agent = await _agent(db, make_merchant, owner)
    caller = await authenticate(db, TEST_PEPPER.encode(), agent.key)
    before = await figures.fingerprint(db, caller)
    paid = (await pay(client, agent, "k-1")).json()["data"]["id"]
    made = await figures.fingerprint(db, caller)
    assert made != before
    await _move(db, paid, states.USED, used_cents=25)  # all of it taken: no money moves
    assert await figures.fingerprint(db, caller) != made
    shown = await owner.client.get("/payments")
    assert 'data-live-page="payments"' in shown.text
    assert 'data-live-page="paid-per-seller"' in shown.text


@pytest.mark.parametrize("language", ["zh", "ja"])
async def test_the_pages_in_each_language_with_no_english_left(
    client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    sign_up: SignUp,
    tally: TallyPayer,
    language: str,
) -> None:
    owner = await sign_up()
    chosen = await owner.post("/account/language", {"language": language}, page="/account")
    assert chosen.status_code == 303, chosen.text
    agent = await _agent(db, make_merchant, owner)
    made = [
        (await pay(client, agent, f"k-{n}", said=challenge(10 + n))).json()["data"]["id"]
        for n in range(3)
    ]
    await _move(db, made[0], states.USED, used_cents=5)
    await _move(db, made[1], states.RELEASED)
    for path in (
        "/payments",
        "/payments?status=used",
        "/payments?status=failed",
        *(f"/payments/{each}" for each in made),
    ):
        reply = await owner.client.get(path)
        assert reply.status_code == 200, path
        assert f'<html lang="{"zh-Hans" if language == "zh" else "ja"}">' in reply.text
        assert not untranslated(reply.text, language), (path, untranslated(reply.text, language))
        assert not latin_left(reply.text), (path, latin_left(reply.text))


async def test_an_owner_binds_a_destination_to_an_origin_and_unbinds_it(
    app: ASGIApp,
    client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    sign_up: SignUp,
    tally: TallyPayer,
) -> None:
    """The card calls the API's operations: a destination bound here is admitted under its
    origin (the agent's payment paid, not held), unbound it is held again; a developer, who
    may not decide payments, neither sees nor posts the form."""
    owner = await sign_up()
    agent = await _agent(db, make_merchant, owner)
    await set_policy(db, agent.key_id, {**POLICY, "allowed_payees": ["https://api.seller.example"]})
    assert (await pay(client, agent, "h-1")).status_code == 202  # not bound: held
    inbox = await owner.client.get("/topups/approvals")
    assert "its destination is not bound to the origin it names" in inbox.text
    wanted = {"origin": "https://api.seller.example", "destination": "tally:acct_seller"}
    bound = await owner.post("/payments/bindings", wanted, page="/payments")
    assert bound.status_code == 303 and "binding=bound" in bound.headers["location"]
    shown = await owner.client.get(bound.headers["location"].removeprefix("/dashboard"))
    [row] = re.findall(r'<tr data-binding="(pb_[0-9a-z]+)">', shown.text)
    assert "tally:acct_seller" in shown.text and "Destination bound" in shown.text
    assert (await pay(client, agent, "h-2")).status_code == 201  # bound: paid
    wrong = await owner.post(
        "/payments/bindings", {**wanted, "origin": "nonsense"}, page="/payments"
    )
    assert "binding=invalid" in wrong.headers["location"]
    developer = await join_as(app, owner, "developer")
    assert 'id="binding-form"' not in (await developer.client.get("/payments")).text
    refused = await developer.post(f"/payments/bindings/{row}/remove", {}, page="/payments")
    assert refused.status_code == 403, refused.text
    gone = await owner.post(f"/payments/bindings/{row}/remove", {}, page="/payments")
    assert "binding=unbound" in gone.headers["location"]
    assert (await pay(client, agent, "h-3")).status_code == 202  # unbound: held again
