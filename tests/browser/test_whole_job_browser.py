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

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from gateway.redis_server import free_port
from tests.fixtures.accessibility import assert_accessible
from tests.fixtures.browser import ACTION_MS, DESKTOP, PHONE, shoot, watch
from tests.fixtures.core import wait_until
from tests.fixtures.upstreams import dev_standin

VOUCHER = re.compile(r"ATU-TEST(?:-[0-9A-Z]{4}){3,}")
NEWAPI_CODE = re.compile(r"\b[0-9a-f]{32}\b")
# How long a fresh start may take on a loaded machine: migrations, Redis, three processes.
START_SECONDS = 120


@dataclass(frozen=True)
class Started:
    root: str
    sign_in: str
    port: int
    cwd: Path
    env: dict[str, str]


def _env(home: Path) -> dict[str, str]:
    """A newcomer's shell: nothing set but a Redis address nobody answers, so ``make run``
    starts its own, as on a machine with none running."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "AITOPUP_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "AITOPUP_LOG_LEVEL": "WARNING",
        "AITOPUP_ACCESS_LOG": "false",
        # The child imports the code under test, wherever the test runner found it.
        **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ},
    }


def _printed(out: Path, proc: "subprocess.Popen[bytes]") -> list[str]:
    """What the start printed, once it printed its sign-in link."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        lines = out.read_text().splitlines()
        if any("/dashboard/set-password?token=" in line for line in lines):
            return lines
        assert proc.poll() is None, lines
        assert time.monotonic() < deadline, lines
        time.sleep(0.1)


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """``make run`` in a fresh directory on a free port, until the module is done; what it
    printed goes to a file (the gateway and the worker write there too, never held up by a
    pipe nobody reads)."""
    cwd = tmp_path_factory.mktemp("make-run")
    port = free_port()
    env = _env(cwd)
    out = cwd / "printed.txt"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "run", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        lines = _printed(out, proc)
        root = f"http://127.0.0.1:{port}"
        assert f"aiTopUp gateway: {root}/api/public/v1" in lines
        [link] = [line for line in lines if line.startswith(f"{root}/dashboard/set-password?")]
        yield Started(root, link, port, cwd, env)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0, out.read_text()


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


async def _section(page: Page, name: str) -> None:
    """A section of the dashboard, by its link in the nav."""
    await (
        page.get_by_role("navigation", name="Sections")
        .get_by_role("link", name=name, exact=True)
        .click()
    )
    await expect(page.get_by_role("heading", level=1)).to_contain_text(name)


async def _send(page: Page, platform: str, amount: str, to: str) -> None:
    await _section(page, "Top-ups")
    await page.get_by_role("link", name="Send a top-up").click()
    await page.wait_for_url("**/dashboard/topups/send")
    await page.get_by_label("Platform").select_option(platform)
    await page.get_by_label("Amount (USD)").fill(amount)
    await page.get_by_label("Recipient's e-mail").fill(to)
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#reply-code")).to_have_text("1001")


async def _open_mail(page: Page, to: str) -> None:
    """The voucher e-mail to ``to``, opened from the staging mailbox once the worker wrote it."""
    await _section(page, "Mail")
    mails = page.locator("tr", has_text=to).get_by_role("link", name="voucher")

    async def mailed() -> bool:
        await page.reload()
        return await mails.count() > 0

    await wait_until(mailed, within=30, interval=0.5)
    await mails.first.click()
    await expect(page.locator("dl.facts")).to_contain_text(to)


async def test_the_whole_job_on_a_fresh_make_run(person: Page, make_run: Started) -> None:
    page = person
    # Signed in by the printed link: a password chosen there.
    await page.goto(make_run.sign_in)
    await page.get_by_label("New password").fill("a demo password 0123")
    await page.get_by_role("button", name="Set password").click()
    await page.wait_for_url("**/dashboard/")

    async with dev_standin("newapi", 7) as served:
        standin = served.value("New API address")
        # The Fulfilment page: Claude's credit lands on the stand-in.
        await _section(page, "Fulfilment")
        claude = page.locator("#platform-claude")
        await claude.get_by_label("Provider").select_option("newapi")
        await claude.get_by_label("New API address").fill(standin)
        await claude.get_by_label("Admin access token").fill(served.value("Admin access token"))
        await claude.get_by_label("Admin user id").fill(served.value("Admin user id"))
        await claude.get_by_role("button", name="Save and test Claude").click()
        claude = page.locator("#platform-claude")
        await expect(claude.locator("[data-provider]")).to_have_attribute("data-provider", "newapi")
        await expect(claude.locator("[data-test-result]")).to_have_class("notice")

        await _send(page, "claude", "7.00", "joy@example.com")
        await _open_mail(page, "joy@example.com")
        text = await page.locator("#mail-text").inner_text()
        code = NEWAPI_CODE.search(text)
        assert code is not None, text
        await shoot(page, "whole-job-newapi-mail")
        # The HTML version, in a tab of its own, as the "Open the HTML" link opens it.
        async with page.context.expect_page() as opened:
            await page.get_by_role("link", name="Open the HTML").click()
        mail = await opened.value
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
        await console.get_by_label("Username").fill("joy")
        await console.get_by_label("Password").fill("joy-secret-1")
        await console.get_by_role("button", name="Create the account, then sign in").click()
        await expect(console.locator("#who")).to_have_text("joy")
        await console.get_by_label("Redemption code").fill(code.group())
        await console.get_by_role("button", name="Redeem").click()
        await expect(console.get_by_role("status")).to_contain_text("Redeemed")
        await expect(console.locator("#quota")).to_have_text(str(700 * 500_000 // 100))

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
    await _send(page, "chatgpt", "5.00", "max@example.com")
    await _open_mail(page, "max@example.com")
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
    await _section(page, "Wallet")
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
