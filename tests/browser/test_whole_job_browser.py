"""A person's whole job on a fresh ``make run``, in Chromium, with no outside service: the
gateway started as ``make run`` starts it (``aitopup run`` in an empty directory, its own Redis,
the default embedded store), signed in to by the link it prints; the New API stand-in started
beside it as the docs tell a newcomer (``aitopup dev newapi``) and set on the Fulfilment page; a
top-up sent from the dashboard's Send form, its e-mail opened in the staging mailbox, its button
followed to the stand-in's console page and the code redeemed there; the recipient's page then
showing it spent, balance included. Then the built-in voucher: sent, its mail opened, its
``ATU-`` code redeemed on the Wallet page, and the recipient's page showing it gone. Every step
by clicks and forms; only what a person reads (the printed lines) is read otherwise.

A second ``make run`` on the same port ends with one line saying so and a non-zero status."""

import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from gateway.redis_server import free_port
from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import ACTION_MS, DESKTOP, PHONE, shoot, watch
from tests.fixtures.core import wait_until
from tests.fixtures.first_run import (
    NEWAPI_CODE,
    Started,
    configure_newapi,
    newcomer_env,
    open_html,
    open_mail,
    redeem_on_console,
    section,
    send_from_dashboard,
    set_password,
    started,
)
from tests.fixtures.upstreams import dev_standin

VOUCHER = re.compile(r"ATU-TEST(?:-[0-9A-Z]{4}){3,}")


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """``make run`` in a fresh directory on a free port, until the module is done."""
    cwd = tmp_path_factory.mktemp("make-run")
    port = free_port()
    argv = [sys.executable, "-m", "gateway.cli", "run", "--port", str(port)]
    with started(argv, cwd, port, newcomer_env(cwd)) as run:
        yield run


@pytest.fixture
async def person(browser: Browser, make_run: Started) -> AsyncIterator[Page]:
    """A fresh browser context based at ``make run``'s gateway; a script error, a CSP
    violation or an asset that fails, on any of its tabs, fails the test whatever it checked."""
    context = await browser.new_context(viewport=DESKTOP, base_url=make_run.root)
    context.set_default_timeout(ACTION_MS)
    watched: list[list[str]] = []
    context.on("page", lambda opened: watched.append(watch(opened)))
    page = await context.new_page()
    yield page
    await context.close()
    assert not [error for errors in watched for error in errors], watched


async def test_the_whole_job_on_a_fresh_make_run(person: Page, make_run: Started) -> None:
    page = person
    await set_password(page, make_run.sign_in)

    async with dev_standin("newapi", 7) as served:
        standin = await configure_newapi(page, served)
        await send_from_dashboard(page, "claude", "7.00", "joy@example.com")
        await open_mail(page, "joy@example.com")
        text = await page.locator("#mail-text").inner_text()
        code = NEWAPI_CODE.search(text)
        assert code is not None, text
        await shoot(page, "whole-job-newapi-mail")
        mail = await open_html(page)
        # The e-mail's "See your balance" button: the credit is there, its code not yet used.
        async with page.context.expect_page() as opened:
            await mail.get_by_role("link", name="See your balance and top-ups").click()
        recipient = await opened.value
        item = recipient.locator("#received li")
        await expect(item.locator("[data-redeemed]")).to_have_attribute("data-redeemed", "unused")
        await expect(recipient.locator("#balances")).to_contain_text("$7.00")

        # The e-mail's own Redeem button: the stand-in's console page, in a tab of its own.
        async with page.context.expect_page() as opened:
            await mail.get_by_role("link", name="Redeem at 127.0.0.1").click()
        console = await opened.value
        await console.wait_for_url(standin + "/console/topup")
        await redeem_on_console(console, "joy", "joy-secret-1", code.group(), 700)

        # Back on the recipient's page (an unused code's answer is kept a few seconds): spent,
        # and the balance down to nothing.
        async def spent() -> bool:
            await recipient.reload()
            shown = await item.locator("[data-redeemed]").get_attribute("data-redeemed")
            return shown == "spent"

        await wait_until(spent, within=30, interval=1)
        await expect(recipient.locator("#balances")).to_contain_text("$0.00")
        await expect(item).to_contain_text("Code redeemed")

    # The built-in voucher (ChatGPT was left on it): sent, mailed, redeemed on the Wallet page.
    await send_from_dashboard(page, "chatgpt", "5.00", "max@example.com")
    await open_mail(page, "max@example.com")
    text = await page.locator("#mail-text").inner_text()
    voucher = VOUCHER.search(text)
    assert voucher is not None, text
    recipient_url = await page.locator("#mail-link").get_attribute("href")
    assert recipient_url is not None
    await page.locator("#mail-link").click()
    await page.wait_for_url(recipient_url)
    await expect(page.locator("#balances")).to_contain_text("$5.00")
    await expect(page.locator("#received li .status-redeemed")).to_have_count(0)
    await page.go_back()
    await section(page, "Wallet")
    await page.get_by_label("Voucher", exact=True).fill(voucher.group())
    await page.get_by_role("button", name="Take it back").click()
    await expect(page.locator("#voucher-done")).to_contain_text("$5.00 of ChatGPT credit")
    await page.goto(recipient_url)  # the e-mail's link again, as its reader follows it
    await expect(page.locator("#balances")).to_contain_text("$0.00")
    await expect(page.locator("#received li .status-redeemed")).to_have_count(1)
    await assert_accessible(page, "whole-job-recipient", widths=(DESKTOP, PHONE))


def test_a_second_make_run_on_the_same_port_says_so_and_fails(make_run: Started) -> None:
    """``make run`` again in the same checkout while the first serves: one line saying a start
    already runs in this folder, and where, and a non-zero status, with no key or link printed
    and the first left serving, its key intact."""
    again = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "run", "--port", str(make_run.port)],
        cwd=make_run.cwd,
        env=make_run.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode != 0
    last = again.stderr.strip().splitlines()[-1]
    assert last.startswith("aitopup run: a start already runs in this folder"), again.stderr
    assert f"serving http://127.0.0.1:{make_run.port})" in last, again.stderr
    assert "staging key" not in again.stdout and "aiTopUp gateway" not in again.stdout
    assert httpx.get(f"{make_run.root}/healthz", timeout=10).status_code == 200
