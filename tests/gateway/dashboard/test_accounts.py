"""Accounts through the dashboard's forms: sign-up, sessions, sign-in throttling, CSRF."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.accounts import sessions, throttle, users
from gateway.accounts.passwords import is_argon2id
from gateway.store.engine import Database
from gateway.store.models import DashboardSession, Merchant, User, table_of
from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, running_app, wait_until
from tests.fixtures.dashboard import (
    PASSWORD,
    CountingHasher,
    SignUp,
    client_from,
    csrf_of,
    dashboard_client,
    sign_in_on,
    sign_up_on,
)
from tests.fixtures.limiters import unique_address
from tests.fixtures.redis import RedisServer

_U = table_of(User)
_S = table_of(DashboardSession)
_M = table_of(Merchant)


async def test_sign_up_signs_in_and_shows_the_overview(sign_up: SignUp) -> None:
    account = await sign_up()
    reply = await account.client.get("/")
    assert reply.status_code == 200
    assert account.merchant_name in reply.text
    assert "$1,000.00" in reply.text  # the staging wallet starts funded
    policy = reply.headers["content-security-policy"]
    for directive in (
        "script-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ):
        assert directive in policy
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "same-origin"


async def test_signed_out_pages_lead_to_sign_in(app: ASGIApp) -> None:
    async with dashboard_client(app) as client:
        reply = await client.get("/topups?status=pending")
        assert reply.status_code == 303
        assert (
            reply.headers["location"]
            == "/dashboard/sign-in?next=/dashboard/topups%3Fstatus%3Dpending"
        )
        assert (await client.get("/live")).status_code == 303


async def test_passwords_are_stored_only_as_argon2id(sign_up: SignUp, db: Database) -> None:
    account = await sign_up()
    async with db.read() as conn:
        stored = (
            await conn.execute(select(_U.c.password_hash).where(_U.c.email == account.email))
        ).scalar_one()
    assert is_argon2id(stored)
    assert PASSWORD not in stored


async def test_the_session_id_changes_at_sign_in_and_sign_out_ends_it(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    account = await sign_up()
    async with dashboard_client(app) as client:
        form = await client.get("/sign-in")
        before = client.cookies["aitopup_session"]
        reply = await client.post(
            "/sign-in",
            data={
                "csrf_token": csrf_of(form.text),
                "email": account.email.upper(),  # one account whatever the case
                "password": PASSWORD,
            },
        )
        assert reply.status_code == 303, reply.text
        after = client.cookies["aitopup_session"]
        assert after != before
        cookie = reply.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/dashboard" in cookie
        assert (await client.get("/")).status_code == 200
        # The store keeps a hash, never the id itself.
        async with db.read() as conn:
            hashes = (await conn.execute(select(_S.c.id_hash))).scalars().all()
        assert after not in hashes and sessions._hash(after) in hashes
        # The id the visitor had before signing in opens nothing.
        async with dashboard_client(app) as other:
            other.cookies.set("aitopup_session", before, domain="gateway.test", path="/dashboard")
            assert (await other.get("/")).status_code == 303

        out = await client.post(
            "/sign-out", data={"csrf_token": csrf_of((await client.get("/")).text)}
        )
        assert out.status_code == 303
        async with db.read() as conn:
            hashes = (await conn.execute(select(_S.c.id_hash))).scalars().all()
        assert sessions._hash(after) not in hashes
        async with dashboard_client(app) as replay:
            replay.cookies.set("aitopup_session", after, domain="gateway.test", path="/dashboard")
            assert (await replay.get("/")).status_code == 303


async def test_a_form_without_the_right_csrf_token_is_refused_and_changes_nothing(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    account = await sign_up()
    session_hash = sessions._hash(account.client.cookies["aitopup_session"])
    for token in (None, "", "0" * 64, "forged"):
        data = {"env": "live", "next": "/dashboard/"}
        if token is not None:
            data["csrf_token"] = token
        reply = await account.client.post("/env", data=data)
        assert reply.status_code == 403
        assert "nothing was changed" in reply.text
    async with db.read() as conn:
        env = (
            await conn.execute(select(_S.c.env).where(_S.c.id_hash == session_hash))
        ).scalar_one()
    assert env == "staging"
    # Another visitor's valid token is still not this session's.
    async with dashboard_client(app) as other:
        theirs = csrf_of((await other.get("/sign-in")).text)
    assert (
        await account.client.post("/env", data={"env": "live", "csrf_token": theirs})
    ).status_code == 403
    # With the session's own token the switch works.
    assert (await account.post("/env", {"env": "live"})).status_code == 303
    async with db.read() as conn:
        env = (
            await conn.execute(select(_S.c.env).where(_S.c.id_hash == session_hash))
        ).scalar_one()
    assert env == "live"


async def test_sign_in_and_sign_up_forms_need_their_token_too(
    app: ASGIApp, sign_up: SignUp
) -> None:
    account = await sign_up()
    async with dashboard_client(app) as client:
        await client.get("/sign-in")
        reply = await client.post(
            "/sign-in", data={"email": account.email, "password": PASSWORD, "csrf_token": "x"}
        )
        assert reply.status_code == 403
        assert "aitopup_session" not in reply.headers.get("set-cookie", "")


async def test_ten_failed_sign_ins_lock_the_account_even_for_the_right_password(
    app: ASGIApp, sign_up: SignUp
) -> None:
    account = await sign_up()
    async with dashboard_client(app) as client:
        for _ in range(throttle.FAILURES_PER_ACCOUNT):
            token = csrf_of((await client.get("/sign-in")).text)
            reply = await client.post(
                "/sign-in",
                data={"csrf_token": token, "email": account.email, "password": "wrong password!"},
            )
            assert reply.status_code == 401
            assert f'value="{account.email}"' in reply.text  # the address is kept
            assert "wrong password!" not in reply.text  # the password never is
        token = csrf_of((await client.get("/sign-in")).text)
        next_one = await client.post(
            "/sign-in", data={"csrf_token": token, "email": account.email, "password": "nope nope!"}
        )
        assert next_one.status_code == 429
        retry = int(next_one.headers["retry-after"])
        assert 0 < retry <= 300
        assert "Too many failed sign-ins" in next_one.text
        # The right password too: a lockout that let it through would confirm a guess.
        right = await client.post(
            "/sign-in", data={"csrf_token": token, "email": account.email, "password": PASSWORD}
        )
        assert right.status_code == 429
        assert "aitopup_session=" not in right.headers.get("set-cookie", "")


@pytest.fixture
async def closed_app(settings: Settings) -> AsyncIterator[ASGIApp]:
    async with running_app(settings.model_copy(update={"signup_open": False})) as app:
        yield app


async def test_closed_sign_up_refuses(closed_app: ASGIApp, db: Database) -> None:
    async with dashboard_client(closed_app) as client:
        page = await client.get("/sign-up")
        assert page.status_code == 403
        assert "Sign-up is closed" in page.text
        await client.get("/sign-in")
        reply = await client.post(
            "/sign-up",
            data={
                "csrf_token": csrf_of((await client.get("/sign-in")).text),
                "email": "closed@example.com",
                "password": PASSWORD,
                "merchant_name": "Closed shop",
            },
        )
        assert reply.status_code == 403
    async with db.read() as conn:
        found = (
            await conn.execute(select(_U.c.id).where(_U.c.email == "closed@example.com"))
        ).first()
    assert found is None


async def test_sign_up_errors_keep_the_input_but_never_the_password(app: ASGIApp) -> None:
    async with dashboard_client(app) as client:
        token = csrf_of((await client.get("/sign-up")).text)
        reply = await client.post(
            "/sign-up",
            data={
                "csrf_token": token,
                "email": "short@example.com",
                "password": "too short",
                "merchant_name": "Keeps <its> name",
            },
        )
        assert reply.status_code == 422
        assert "at least 12 characters" in reply.text
        assert 'value="short@example.com"' in reply.text
        assert "Keeps &lt;its&gt; name" in reply.text
        assert "too short" not in reply.text


@pytest.mark.both_stores
async def test_sign_up_refuses_one_character_repeated_and_spaces_alone(
    app: ASGIApp, db: Database
) -> None:
    users_table = table_of(User)
    for weak, said in (("aaaaaaaaaaaa", "One character repeated"), (" " * 12, "Spaces")):
        email = f"weak-{uuid.uuid4().hex[:10]}@example.com"
        reply = await _sign_up_reply(app, email, weak, "Weak")
        assert reply.status_code == 422, reply.text
        assert said in reply.text
        async with db.read() as conn:
            made = await conn.execute(select(users_table.c.id).where(users_table.c.email == email))
            assert made.first() is None


async def _sign_up_reply(app: ASGIApp, email: str, password: str, name: str) -> httpx.Response:
    async with dashboard_client(app) as client:
        token = csrf_of((await client.get("/sign-up")).text)
        return await client.post(
            "/sign-up",
            data={"csrf_token": token, "email": email, "password": password, "merchant_name": name},
        )


async def _counts(db: Database, email: str) -> tuple[int, int]:
    async with db.read() as conn:
        users = len((await conn.execute(select(_U.c.id).where(_U.c.email == email))).all())
        merchants = len((await conn.execute(select(_M.c.id))).all())
    return users, merchants


async def test_an_address_is_one_account_whatever_its_case(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    account = await sign_up()
    before = await _counts(db, account.email)
    reply = await _sign_up_reply(
        app, account.email.upper(), "another password!", "Another shop " + account.merchant_name
    )
    assert reply.status_code == 303
    assert await _counts(db, account.email) == before  # nothing made, nothing changed
    # The account keeps its password; the one given at sign-up opens nothing.
    async with dashboard_client(app) as client:
        await sign_in_on(client, account.email, PASSWORD)
    async with dashboard_client(app) as client:
        token = csrf_of((await client.get("/sign-in")).text)
        wrong = await client.post(
            "/sign-in",
            data={"csrf_token": token, "email": account.email, "password": "another password!"},
        )
        assert wrong.status_code == 401


def _visible(reply: httpx.Response) -> tuple[int, str, str, list[str]]:
    """What a sign-up's answer shows: status, where it leads, body, and which cookies it sets
    (names only: their values are random either way)."""
    cookies = [c.split("=", 1)[0] for c in reply.headers.get_list("set-cookie")]
    return reply.status_code, reply.headers.get("location", ""), reply.text, cookies


async def test_sign_up_answers_alike_whether_the_address_or_the_name_exists(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    taken = await sign_up()
    tag = uuid.uuid4().hex[:8]
    fresh = await _sign_up_reply(app, f"fresh-{tag}@example.com", PASSWORD, f"New {tag}")
    same_name = await _sign_up_reply(app, f"other-{tag}@example.com", PASSWORD, taken.merchant_name)
    same_address = await _sign_up_reply(app, taken.email, PASSWORD, f"Also new {tag}")
    assert _visible(fresh) == _visible(same_name) == _visible(same_address)
    assert fresh.headers["location"] == "/dashboard/sign-in?signed-up"
    # A name is a label: the second merchant of that name is made, and its owner signs in.
    async with db.read() as conn:
        named = (await conn.execute(select(_M.c.id).where(_M.c.name == taken.merchant_name))).all()
    assert len(named) == 2
    async with dashboard_client(app) as client:
        await sign_in_on(client, f"other-{tag}@example.com", PASSWORD)


async def _sign_in(client: httpx.AsyncClient, token: str, email: str, password: str) -> int:
    reply = await client.post(
        "/sign-in", data={"csrf_token": token, "email": email, "password": password}
    )
    return reply.status_code


async def test_a_burst_of_sign_ins_is_counted_before_hashing(
    settings: Settings, hasher: CountingHasher
) -> None:
    """Concurrent wrong passwords for one account from one client: no more are hashed than the
    limit admits; the rest are refused without a hash."""
    roomy = settings.model_copy(update={"password_hashes_per_process": 100})
    email = f"burst-{uuid.uuid4().hex[:8]}@example.com"
    burst = 3 * throttle.FAILURES_PER_ACCOUNT
    # Hashes wait at the gate until every attempt was judged: what is refused is refused by the
    # count, before any hash, and no hash's CPU slows the counting itself.
    hasher.gate.clear()
    allowed = throttle.FAILURES_PER_ACCOUNT
    async with running_app(roomy) as app, client_from(app, unique_address()) as client:
        token = csrf_of((await client.get("/sign-in")).text)
        tasks = [
            asyncio.create_task(_sign_in(client, token, email, "wrong password!"))
            for _ in range(burst)
        ]

        async def judged() -> bool:
            # The refused are answered; the admitted wait at the gate (or for a thread to hash in).
            return sum(t.done() for t in tasks) == burst - allowed

        try:
            await wait_until(judged)
        finally:
            hasher.gate.set()
        codes = await asyncio.gather(*tasks)
    assert sorted(codes) == [401] * throttle.FAILURES_PER_ACCOUNT + [429] * (
        burst - throttle.FAILURES_PER_ACCOUNT
    )
    assert hasher.calls == throttle.FAILURES_PER_ACCOUNT


async def test_concurrent_password_hashes_are_bounded_per_process(
    settings: Settings, hasher: CountingHasher
) -> None:
    """Past ``password_hashes_per_process`` a sign-in is refused at once (503), not queued."""
    bounded = settings.model_copy(update={"password_hashes_per_process": 2})
    hasher.gate.clear()
    async with running_app(bounded) as app, client_from(app, unique_address()) as client:
        token = csrf_of((await client.get("/sign-in")).text)
        tasks = [
            asyncio.create_task(
                _sign_in(client, token, f"n{i}-{uuid.uuid4().hex[:6]}@example.com", "wrong one!")
            )
            for i in range(6)
        ]

        async def refused_four() -> bool:
            return sum(t.done() for t in tasks) == 4 and hasher.running == 2

        try:
            await wait_until(refused_four)
        finally:
            hasher.gate.set()
        codes = await asyncio.gather(*tasks)
    assert sorted(codes) == [401, 401, 503, 503, 503, 503]
    assert hasher.most == 2


async def test_a_strangers_failures_do_not_lock_the_owner_out(
    app: ASGIApp, sign_up: SignUp
) -> None:
    owner = await sign_up()
    async with client_from(app, unique_address()) as stranger:
        token = csrf_of((await stranger.get("/sign-in")).text)
        for _ in range(throttle.FAILURES_PER_ACCOUNT):
            assert await _sign_in(stranger, token, owner.email, "a wrong guess!") == 401
        assert await _sign_in(stranger, token, owner.email, PASSWORD) == 429  # right one too
    async with client_from(app, unique_address()) as own:
        token = csrf_of((await own.get("/sign-in")).text)
        assert await _sign_in(own, token, owner.email, PASSWORD) == 303


async def test_a_right_password_counts_nothing(settings: Settings, sign_up: SignUp) -> None:
    """Attempts are counted before the hash and a right one gives its count back, so an owner
    who signs in often is never locked out by it."""
    account = await sign_up()
    address = unique_address()
    async with running_app(settings) as app:
        for _ in range(throttle.FAILURES_PER_ACCOUNT + 2):
            async with client_from(app, address) as client:  # each sign-in a fresh visitor
                token = csrf_of((await client.get("/sign-in")).text)
                assert await _sign_in(client, token, account.email, PASSWORD) == 303
        async with client_from(app, address) as client:
            token = csrf_of((await client.get("/sign-in")).text)
            assert await _sign_in(client, token, account.email, "one wrong guess") == 401


async def test_a_form_too_large_or_not_urlencoded_is_refused(sign_up: SignUp) -> None:
    account = await sign_up()
    big = await account.client.post(
        "/env",
        content=b"a=" + b"x" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413
    multipart = await account.client.post("/env", files={"f": b"x"})
    assert multipart.status_code == 415


async def test_the_cookie_is_secure_over_https(app: ASGIApp) -> None:
    secure = asgi_client(app, base_url="https://gateway.test/dashboard", follow_redirects=False)
    async with secure as client:
        reply = await client.get("/sign-in")
        assert "secure" in reply.headers["set-cookie"].lower()
    async with dashboard_client(app) as client:
        reply = await client.get("/sign-in")
        assert "secure" not in reply.headers["set-cookie"].lower()


async def test_sign_ups_from_one_address_are_bounded_an_hour(
    settings: Settings, db: Database
) -> None:
    """Every attempt counts (each would make a merchant and hash a password); past the limit
    the form is refused with 429 and a Retry-After, and no account is made."""
    limited = settings.model_copy(update={"signups_per_client_per_hour": 3})
    # A client of its own (an IPv6 /64 no other test uses), so no other sign-up counts here.
    address = f"2001:db8:{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}::1"

    async def attempt(app: ASGIApp, email: str, password: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gateway.test/dashboard"
        ) as client:
            form = await client.get("/sign-up")
            return await client.post(
                "/sign-up",
                data={
                    "csrf_token": csrf_of(form.text),
                    "email": email,
                    "password": password,
                    "merchant_name": "Limited shop",
                },
            )

    tag = uuid.uuid4().hex[:8]
    async with running_app(limited) as app:
        assert (await attempt(app, f"ok-{tag}@example.com", PASSWORD)).status_code == 303
        for _ in range(2):  # a refused form counts as well
            assert (await attempt(app, f"short-{tag}@example.com", "short")).status_code == 422
        refused = await attempt(app, f"late-{tag}@example.com", PASSWORD)
    assert refused.status_code == 429
    assert "Too many sign-ups" in refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    async with db.read() as conn:
        found = (
            await conn.execute(select(_U.c.email).where(_U.c.email.like(f"%-{tag}@example.com")))
        ).all()
    assert [row.email for row in found] == [f"ok-{tag}@example.com"]


async def test_a_burst_while_redis_misses_its_deadline_checks_no_password_uncounted(
    settings: Settings, hasher: CountingHasher, private_redis: RedisServer
) -> None:
    """Redis slower than the limiter's deadline (paused here, as a busy one is late) while a
    client bursts wrong passwords at one account: the attempts it cannot count are refused
    (503), never checked uncounted, so no more than the limit are ever checked."""
    roomy = settings.model_copy(
        update={"password_hashes_per_process": 100, "redis_url": private_redis.url}
    )
    email = f"paused-{uuid.uuid4().hex[:8]}@example.com"
    burst = 3 * throttle.FAILURES_PER_ACCOUNT
    redis = Redis.from_url(private_redis.url)
    try:
        async with running_app(roomy) as app, client_from(app, unique_address()) as client:
            token = csrf_of((await client.get("/sign-in")).text)
            await redis.client_pause(800)  # past the limiter's 500 ms deadline
            codes = await asyncio.gather(
                *(_sign_in(client, token, email, "wrong password!") for _ in range(burst))
            )
    finally:
        await redis.aclose()
    assert set(codes) <= {401, 429, 503}, codes
    assert hasher.calls <= throttle.FAILURES_PER_ACCOUNT
    assert codes.count(401) == hasher.calls


async def test_without_redis_a_right_password_is_refused_not_admitted(
    settings: Settings, db: Database, private_redis: RedisServer
) -> None:
    """The limiter cannot answer: sign-in and the change of password, which check a password,
    answer 503 "try again"; neither is admitted uncounted, the right password neither."""
    on_private = settings.model_copy(update={"redis_url": private_redis.url})
    async with running_app(on_private) as app, dashboard_client(app) as first:
        account = await sign_up_on(first)
        private_redis.stop()
        async with client_from(app, unique_address()) as client:
            token = csrf_of((await client.get("/sign-in")).text)
            right = await client.post(
                "/sign-in",
                data={"csrf_token": token, "email": account.email, "password": PASSWORD},
            )
        assert right.status_code == 503, right.text
        assert right.headers["retry-after"] == "1"
        assert "Try again" in right.text
        assert "aitopup_session=" not in right.headers.get("set-cookie", "")
        changing = await account.post(
            "/account/password",
            {"current_password": PASSWORD, "new_password": "another long passphrase"},
            page="/account",
        )
        assert changing.status_code == 503
    assert await users.check_password(db, account.email, PASSWORD) is not None  # unchanged
