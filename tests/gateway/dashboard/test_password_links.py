"""The forms that spend a one-time link (a password reset, an invitation's password-set link):
a forged link is looked up before any hash, so a burst of them takes none of the hash slots
sign-in needs; they are counted per client address; a new password voids every other link of
the account."""

import asyncio
import secrets

import httpx
from starlette.types import ASGIApp

from gateway.accounts import users
from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.core import running_app, wait_until
from tests.fixtures.dashboard import (
    PASSWORD,
    CountingHasher,
    SignUp,
    client_from,
    csrf_of,
    reset_token,
    user_id_of,
)
from tests.fixtures.limiters import unique_address

NEW_PASSWORD = "a brand new long passphrase"


async def _reset(client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD) -> int:
    form = csrf_of((await client.get("/forgot-password")).text)
    reply = await client.post(
        "/reset-password", data={"csrf_token": form, "token": token, "password": password}
    )
    return reply.status_code


async def _sign_in(client: httpx.AsyncClient, token: str, email: str) -> int:
    reply = await client.post(
        "/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    return reply.status_code


async def test_forged_reset_links_hash_nothing_and_leave_sign_in_its_slots(
    settings: Settings, sign_up: SignUp, hasher: CountingHasher
) -> None:
    """16 forged reset posts in flight beside 4 sign-ins, with 4 hash slots: every sign-in gets
    a slot (none answers 503) and no forged link is hashed."""
    owners = [await sign_up() for _ in range(4)]
    hashed_before = hasher.hashes
    four = settings.model_copy(update={"password_hashes_per_process": 4})
    async with (
        running_app(four) as app,
        client_from(app, unique_address()) as forger,
        client_from(app, unique_address()) as visitor,
    ):
        form = csrf_of((await forger.get("/forgot-password")).text)
        token = csrf_of((await visitor.get("/sign-in")).text)
        hasher.gate.clear()  # every hash and check waits: what holds a slot stays visible
        forged = [
            asyncio.create_task(
                forger.post(
                    "/reset-password",
                    data={
                        "csrf_token": form,
                        "token": secrets.token_urlsafe(32),
                        "password": NEW_PASSWORD,
                    },
                )
            )
            for _ in range(16)
        ]
        signing_in = [asyncio.create_task(_sign_in(visitor, token, o.email)) for o in owners]

        async def settled() -> bool:
            # Each request is answered or holds a slot, and every slot is held.
            return sum(t.done() for t in [*forged, *signing_in]) == 16 and hasher.running == 4

        try:
            await wait_until(settled)
        finally:
            hasher.gate.set()
        replies = await asyncio.gather(*forged)
        codes = await asyncio.gather(*signing_in)
    assert [r.status_code for r in replies] == [404] * 16
    assert codes == [303] * 4
    assert hasher.hashes == hashed_before  # no forged link was hashed


async def test_link_posts_are_counted_per_client(
    settings: Settings, sign_up: SignUp, db: Database, hasher: CountingHasher
) -> None:
    """Past ``AITOPUP_AUTH_FAILURES_PER_CLIENT`` forged links from one address, the reset and
    password-set forms answer 429 with ``Retry-After``, a live link too; another address is
    not held back, and a link that works gives its count back."""
    account = await sign_up()
    tight = settings.model_copy(update={"auth_failures_per_client": 3})
    async with running_app(tight) as app:
        live = await reset_token(db, await user_id_of(db, account.email))
        async with client_from(app, unique_address()) as other:
            assert await _reset(other, live) == 303  # works, and counts nothing
            for _ in range(3):
                assert (
                    await _reset(other, await reset_token(db, await user_id_of(db, account.email)))
                    == 303
                )
        async with client_from(app, unique_address()) as forger:
            for _ in range(3):
                assert await _reset(forger, secrets.token_urlsafe(32)) == 404
            hashed = hasher.hashes
            token = await reset_token(db, await user_id_of(db, account.email))
            form = csrf_of((await forger.get("/forgot-password")).text)
            refused = await forger.post(
                "/reset-password",
                data={"csrf_token": form, "token": token, "password": NEW_PASSWORD},
            )
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) > 0
            assert "Too many tries" in refused.text
            invited = await forger.post(
                "/set-password",
                data={"csrf_token": form, "token": "x" * 43, "password": NEW_PASSWORD},
            )
            assert invited.status_code == 429
            assert hasher.hashes == hashed
        async with client_from(app, unique_address()) as owner:
            assert await _reset(owner, token) == 303  # the link itself is still good


async def test_a_reset_voids_the_accounts_other_links(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    account = await sign_up()
    user_id = await user_id_of(db, account.email)
    older, newer = await reset_token(db, user_id), await reset_token(db, user_id)
    async with client_from(app, unique_address()) as browser:
        assert await _reset(browser, newer) == 303
        assert await _reset(browser, older, "yet another passphrase") == 404
        assert (await browser.get(f"/reset-password?token={older}")).status_code == 404
    assert await users.check_password(db, account.email, NEW_PASSWORD) is not None


async def test_a_password_change_voids_the_accounts_links(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    account = await sign_up()
    outstanding = await reset_token(db, await user_id_of(db, account.email))
    changed = await account.post(
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        page="/account",
    )
    assert changed.status_code == 303, changed.text
    async with client_from(app, unique_address()) as browser:
        assert await _reset(browser, outstanding, "yet another passphrase") == 404
    assert await users.check_password(db, account.email, NEW_PASSWORD) is not None


async def test_a_reset_voids_an_invitations_password_set_link(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    """An invited user who has not set a password yet resets it instead: the invitation's link
    can no longer replace the password chosen."""
    owner = await sign_up()
    merchant = await users.check_password(db, owner.email, PASSWORD)
    assert merchant is not None
    invited = await users.invite(
        db, merchant_id=merchant.merchant_id, email=f"inv-{secrets.token_hex(5)}@example.com"
    )
    assert invited.token is not None
    reset = await reset_token(db, invited.user_id)
    async with client_from(app, unique_address()) as browser:
        assert await _reset(browser, reset) == 303
        form = csrf_of((await browser.get("/forgot-password")).text)
        again = await browser.post(
            "/set-password",
            data={"csrf_token": form, "token": invited.token, "password": "yet another one!"},
        )
        assert again.status_code == 404
    assert await users.check_password(db, invited.email, NEW_PASSWORD) is not None
