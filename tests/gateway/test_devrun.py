"""``make run``: it starts again a process that exits, within a bound; and its demo key is
minted on every start for the same demo merchant, found again by the id this machine wrote,
never by its name."""

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from gateway import devrun
from gateway.devrun import RESTARTS_PER_MINUTE, Supervised, _supervise
from gateway.operator import create_merchant
from gateway.redis_server import RedisServer, free_port
from gateway.values.settings import Settings
from keys import parse_api_key
from tests.fixtures.core import live_server
from tests.fixtures.dashboard import csrf_of


def test_an_exiting_process_is_restarted_until_the_bound(
    capsys: pytest.CaptureFixture[str],
) -> None:
    starts: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
        starts.append(proc)
        return proc

    worker = Supervised("worker", start)
    _supervise([worker], poll=0.01)  # returns once the bound is reached
    assert len(starts) == 1 + RESTARTS_PER_MINUTE
    lines = capsys.readouterr().err.splitlines()
    first = f"the worker exited (code 3); restarting (1 of {RESTARTS_PER_MINUTE} this minute)"
    assert lines[0] == f"aitopup run: {first}"
    assert lines[-1].endswith("restarts within a minute; stopping")
    assert len(lines) == 1 + RESTARTS_PER_MINUTE


def test_restarts_older_than_a_minute_do_not_count() -> None:
    calls = 0

    def start() -> subprocess.Popen[bytes]:
        nonlocal calls
        calls += 1
        return subprocess.Popen([sys.executable, "-c", "pass"])

    worker = Supervised("gateway", start)
    for minute in range(3):
        for _ in range(RESTARTS_PER_MINUTE):
            worker.proc.wait()
            assert worker.restart(1, now=minute * 61.0)
        assert not worker.restart(1, now=minute * 61.0 + 1)
    worker.proc.wait()
    assert calls == 1 + 3 * RESTARTS_PER_MINUTE


async def test_the_demo_merchant_is_remembered_by_id_not_found_by_name(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # Someone signed up as "demo" before the first start: that merchant is never used.
    squatter = await asyncio.to_thread(create_merchant, settings, "demo")

    first, key = await asyncio.to_thread(devrun.demo_key, settings)
    assert first.id != squatter.id and first.name == "demo"
    assert devrun.DEMO_MERCHANT_FILE.read_text().strip() == first.id

    again, second_key = await asyncio.to_thread(devrun.demo_key, settings)
    assert again.id == first.id  # the second start finds the same merchant
    assert second_key != key  # and mints a fresh key for it
    assert parse_api_key(second_key).env == "staging"

    # A store that no longer has it (a new database): a new demo merchant, remembered anew.
    devrun.DEMO_MERCHANT_FILE.write_text("mer_gone\n")
    fresh, _ = await asyncio.to_thread(devrun.demo_key, settings)
    assert fresh.id not in {first.id, squatter.id}
    assert devrun.DEMO_MERCHANT_FILE.read_text().strip() == fresh.id


@pytest.mark.slow
def test_make_run_serves_on_the_port_it_is_given(
    tmp_path: Path, private_redis: RedisServer
) -> None:
    """`make run PORT=…` as a newcomer types it (the target runs `aitopup run --port`): the
    gateway answers a send on that port, the CLI beside it learns the URL, and Ctrl-C (SIGINT to
    the process group) stops every process it started."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AITOPUP_REDIS_URL": private_redis.url,
        "AITOPUP_LOG_LEVEL": "WARNING",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "run", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    ) as proc:
        _serves_a_send(proc, port, tmp_path)
    base = f"http://127.0.0.1:{port}"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/healthz", timeout=2)


def _serves_a_send(proc: "subprocess.Popen[str]", port: int, tmp_path: Path) -> None:
    try:
        assert proc.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("staging key") for line in printed):
            assert time.monotonic() < deadline and proc.poll() is None, printed
            printed.append(proc.stdout.readline().strip())
        base = f"http://127.0.0.1:{port}"
        assert f"aiTopUp gateway: {base}/api/public/v1" in printed
        key = printed[-1].rsplit(" ", 1)[-1]
        reply = httpx.post(
            f"{base}/api/public/v1/topup/send",
            headers={"Authorization": f"Bearer {key}"},
            json={"platform": "claude", "amount_cents": 100, "recipient_email": "a@example.com"},
            timeout=10,
        )
        assert reply.json()["code"] == 1001, reply.text
        assert (tmp_path / ".aitopup" / "gateway-url").read_text().strip() == base
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 0


@asynccontextmanager
async def _sign_in_by(link: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser that opens ``link`` (a set-password or reset page), posts its form as a person
    does and keeps the session it starts: signed in."""
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        yield await _signed_in(browser, link, password)


async def _signed_in(browser: httpx.AsyncClient, link: str, password: str) -> httpx.AsyncClient:
    page = await browser.get(link)
    assert page.status_code == 200, page.text
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    assert action is not None
    posted = await browser.post(
        urljoin(link, action.group(1)),
        data={
            "csrf_token": csrf_of(page.text),
            "token": parse_qs(urlsplit(link).query)["token"][0],
            "password": password,
        },
    )
    assert (posted.status_code, posted.headers.get("location")) == (303, "/dashboard/"), posted.text
    return browser


async def test_make_run_prints_a_one_time_link_to_the_demo_merchants_dashboard(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick start: the printed key sends a top-up, the printed link signs in to the
    dashboard of that key's merchant, where the top-up shows. Each start prints a fresh link; a
    link works once."""
    monkeypatch.chdir(tmp_path)
    async with live_server(settings) as root:
        said = await asyncio.to_thread(devrun.welcome, settings, root)
        key = re.search(r"staging key \(merchant demo, (mer_\w+)\): (\S+)", said)
        assert key is not None, said
        [link] = re.findall(r"^(http://\S+/dashboard/set-password\?token=\S+)$", said, re.M)
        assert link.startswith(root + "/") and devrun.DEMO_EMAIL in said
        async with httpx.AsyncClient(base_url=f"{root}/api/public/v1") as api:
            sent = await api.post(
                "/topup/send",
                json={
                    "platform": "claude",
                    "amount_cents": 1000,
                    "recipient_email": "q@example.com",
                },
                headers={"Authorization": f"Bearer {key.group(2)}", "Idempotency-Key": "quick"},
            )
            assert sent.status_code in (200, 201), sent.text
            txn = sent.json()["transaction_id"]

        async with _sign_in_by(link, "demo password 0123") as browser:
            topups = await browser.get(f"{root}/dashboard/topups")
            assert topups.status_code == 200, topups.text
            assert txn in topups.text and "q@example.com" in topups.text
        async with httpx.AsyncClient() as again:
            assert (await again.get(link)).status_code == 404  # spent

        # The next start: the demo user has a password now, so its link is a reset's.
        said = await asyncio.to_thread(devrun.welcome, settings, root)
        [link] = re.findall(r"^(http://\S+/dashboard/reset-password\?token=\S+)$", said, re.M)
        async with _sign_in_by(link, "another password 0123") as browser:
            overview = await browser.get(f"{root}/dashboard/topups")
            assert txn in overview.text
