"""Password reset by e-mail: the link reaches a real SMTP server, works once, sets the password
and ends the account's other sessions; the reply tells nobody whether an address has an
account; requests are rate-limited."""

import re

import httpx
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import func, select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import Mail, table_of
from tests.fixtures.core import wait_until
from tests.fixtures.dashboard import SignUp, csrf_of, dashboard_client, sign_in_on
from tests.fixtures.mail import Inbox, html_of, text_of
from tests.fixtures.workers import StartWorker

_M = table_of(Mail)
LINK = re.compile(r"https?://\S+?/dashboard(/reset-password\?token=[\w-]+)")
NEW_PASSWORD = "a brand new long passphrase"


async def ask(client: httpx.AsyncClient, email: str) -> httpx.Response:
    form = await client.get("/forgot-password")
    return await client.post(
        "/forgot-password", data={"csrf_token": csrf_of(form.text), "email": email}
    )


async def reset_mails(db: Database) -> int:
    async with db.read() as conn:
        found = await conn.execute(select(func.count()).where(_M.c.kind == "password_reset"))
        return int(found.scalar_one())


async def test_a_reset_link_by_email_works_once_and_ends_other_sessions(
    sign_up: SignUp,
    app: ASGIApp,
    start_worker: StartWorker,
    smtp_server: Inbox,
    redis_url: str,
) -> None:
    account = await sign_up()  # its client is signed in: the "other session"
    await start_worker(smtp_url=SecretStr(smtp_server.url))
    async with dashboard_client(app) as browser:
        asked = await ask(browser, account.email.upper())
        assert asked.status_code == 202 and "on its way" in asked.text

        async def mailed() -> bool:
            return len(smtp_server.received) == 1

        await wait_until(mailed)
        [message] = smtp_server.received
        assert message["To"] == account.email
        found = LINK.search(text_of(message))
        assert found is not None and found.group(1) in html_of(message).replace("&amp;", "&")
        path = found.group(1)
        shown = await browser.get(path)
        assert shown.status_code == 200 and account.email in shown.text
        token = path.split("token=")[1]
        done = await browser.post(
            "/reset-password",
            data={"csrf_token": csrf_of(shown.text), "token": token, "password": NEW_PASSWORD},
        )
        assert done.status_code == 303 and done.headers["location"] == "/dashboard/"
        home = await browser.get("/")
        assert home.status_code == 200  # signed in here
        again = await browser.post(
            "/reset-password",
            data={"csrf_token": csrf_of(home.text), "token": token, "password": NEW_PASSWORD},
        )
        assert again.status_code == 404  # single use
        assert (await browser.get(path)).status_code == 404
    ended = await account.client.get("/")
    assert ended.status_code == 303  # the other session was signed out
    async with dashboard_client(app) as fresh:
        await sign_in_on(fresh, account.email, NEW_PASSWORD)


async def test_unknown_addresses_get_the_same_reply_and_no_mail(
    sign_up: SignUp, app: ASGIApp, db: Database, redis_url: str
) -> None:
    redis = Redis.from_url(redis_url)
    await redis.flushall()
    await redis.aclose()
    account = await sign_up()
    before = await reset_mails(db)
    async with dashboard_client(app) as browser:
        known = await ask(browser, account.email)
        unknown = await ask(browser, "nobody-here@example.com")
        assert known.status_code == unknown.status_code == 202
        strip = re.compile(r'name="csrf_token" value="[^"]+"')
        assert strip.sub("", known.text) == strip.sub("", unknown.text)
        assert await reset_mails(db) == before + 1
        bad = await ask(browser, "not an address")
        assert bad.status_code == 422
        for _ in range(2):  # three an hour per address
            await ask(browser, account.email)
        refused = await ask(browser, account.email)
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        forged = await browser.get("/reset-password?token=nope")
        assert forged.status_code == 404
