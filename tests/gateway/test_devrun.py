"""``make run``: it starts again a process that exits, within a bound; and its demo key is
minted on every start for the same demo merchant, found again by the id this machine wrote,
never by its name.

The tests that only read what a start printed or what it serves (its port, the docs' sample
output and payments, two merchants' wallets meeting, a second start refused, its Redis, no
access line, Ctrl-C) share one start (``docs_run``, one unit of the run: ``make-run``); the
tests about starting itself start their own."""

import asyncio
import fcntl
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
import redis
from sqlalchemy import func, select

from gateway import demo, devrun
from gateway.admin import channels as channel_admin
from gateway.admin import plans as plan_admin
from gateway.admin.audit import Call
from gateway.billing.channels import registry
from gateway.billing.channels.registry import SANDBOX, STRIPE
from gateway.billing.channels.schemas import ChannelSet
from gateway.billing.subscriptions.schemas import PlanUpdate
from gateway.devrun import (
    HEALTHY_AFTER_SECONDS,
    RESTARTS_IN_A_ROW,
    Supervised,
    _supervise,
)
from gateway.operator import command_store, create_key, create_merchant
from gateway.protocols.base import Companion
from gateway.redis_server import RedisServer, free_port
from gateway.redis_server import answers as redis_server_answers
from gateway.store.engine import Database
from gateway.store.migrate import upgrade
from gateway.store.models import AuditRecord
from gateway.values.settings import Settings
from keys import parse_api_key
from tests.fixtures.core import live_server, local_client
from tests.fixtures.dashboard import csrf_of
from tests.fixtures.demo_agents import API, FUNDED, Agent, payer_key, pays_once, used_by_the_seller
from tests.fixtures.make_run import SharedRun, printed_until_the_key, run_env


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
    assert len(starts) == 1 + RESTARTS_IN_A_ROW
    lines = capsys.readouterr().err.splitlines()
    first = f"the worker exited (code 3); restarting (1 of {RESTARTS_IN_A_ROW} in a row)"
    assert lines[0] == f"aitopup run: {first}"
    assert lines[-1].endswith(
        f"{RESTARTS_IN_A_ROW} restarts in a row each exited within 60 s; stopping"
    )
    assert len(lines) == 1 + RESTARTS_IN_A_ROW


def test_quick_exits_trip_the_bound_however_slowly_they_come() -> None:
    """On a slow machine five restarts never fit in a minute: what counts is that each start
    exited before it had run a minute, so a process that cannot start is given up all the same."""
    worker = Supervised("gateway", lambda: subprocess.Popen([sys.executable, "-c", "pass"]), now=0)
    now = 0.0
    for _ in range(RESTARTS_IN_A_ROW):
        worker.proc.wait()
        now += HEALTHY_AFTER_SECONDS - 1  # each lived just under a minute: 5 take 5 minutes
        assert worker.restart(1, now=now)
    worker.proc.wait()
    assert not worker.restart(1, now=now + HEALTHY_AFTER_SECONDS - 1)


def test_a_start_that_ran_a_while_begins_a_new_count() -> None:
    calls = 0

    def start() -> subprocess.Popen[bytes]:
        nonlocal calls
        calls += 1
        return subprocess.Popen([sys.executable, "-c", "pass"])

    worker = Supervised("gateway", start, now=0)
    now = 0.0
    for _ in range(3):
        for _ in range(RESTARTS_IN_A_ROW):
            worker.proc.wait()
            now += 1
            assert worker.restart(1, now=now)
        worker.proc.wait()
        assert not worker.restart(1, now=now + 1)
        now += HEALTHY_AFTER_SECONDS  # the last start lived a minute: healthy
    worker.proc.wait()
    assert calls == 1 + 3 * RESTARTS_IN_A_ROW


def test_a_protocols_companion_runs_with_the_environment_it_wrote(tmp_path: Path) -> None:
    """A payment protocol's process beside the gateway (``registry.dev_companions``) is started
    on its command, in the environment the gateway and the worker start in, supervised as
    they are."""
    said = tmp_path / "said"
    reads = f"import os; open({str(said)!r}, 'w').write(os.environ['AITOPUP_CLERK_URL'])"
    clerk = Companion("clerk", (sys.executable, "-c", reads), "staging's clerk")
    env = {**os.environ, "AITOPUP_CLERK_URL": "http://127.0.0.1:9"}
    supervised = devrun._companion(clerk, env)
    assert (supervised.name, supervised.proc.wait(timeout=30)) == ("clerk", 0)
    assert said.read_text() == "http://127.0.0.1:9"


async def test_the_demo_merchant_is_remembered_by_id_not_found_by_name(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # Someone signed up as "demo" before the first start: that merchant is never used.
    squatter = await asyncio.to_thread(create_merchant, settings, "demo")

    first, key = await asyncio.to_thread(demo.demo_key, settings)
    assert first.id != squatter.id and first.name == "demo"
    assert demo.DEMO_MERCHANT_FILE.read_text().strip() == first.id

    again, second_key = await asyncio.to_thread(demo.demo_key, settings)
    assert again.id == first.id  # the second start finds the same merchant
    assert second_key != key  # and mints a fresh key for it
    assert parse_api_key(second_key).env == "staging"

    # A store that no longer has it (a new database): a new demo merchant, remembered anew.
    demo.DEMO_MERCHANT_FILE.write_text("mer_gone\n")
    fresh, _ = await asyncio.to_thread(demo.demo_key, settings)
    assert fresh.id not in {first.id, squatter.id}
    assert demo.DEMO_MERCHANT_FILE.read_text().strip() == fresh.id


async def test_each_start_revokes_the_key_the_last_start_printed(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six starts in a row under a cap of two keys: each prints a working key and revokes the
    one before, so the demo's keys never pile up toward the cap (without the revoke the third
    start would be refused: six are three times the cap)."""
    monkeypatch.chdir(tmp_path)
    capped = settings.model_copy(update={"max_keys_per_merchant_env": 2})
    printed: list[str] = []
    for _ in range(6):
        _, key = await asyncio.to_thread(demo.demo_key, capped)
        printed.append(key)
    assert len(set(printed)) == 6
    async with local_client() as http, live_server(settings) as root:
        for key, works in ((printed[-2], False), (printed[-1], True)):
            balance = await http.get(
                f"{root}/api/public/v1/balance", headers={"Authorization": f"Bearer {key}"}
            )
            assert (balance.status_code == 200) is works, balance.text


def _refused_start(folder: Path, env: dict[str, str], port: int | None = None) -> str:
    """``make run`` in ``folder`` as a newcomer types it, expected to fail: the one line it
    printed on its standard error, once it exited non-zero having printed no key."""
    ran = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "run", "--port", str(port or free_port())],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode != 0, ran.stdout
    assert "staging key" not in ran.stdout and "aiTopUp gateway" not in ran.stdout
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aitopup run: "), ran.stderr
    return lines[0]


def test_a_taken_port_is_a_failure_not_a_welcome(
    tmp_path: Path, private_redis: RedisServer
) -> None:
    """Something already listens on the port: ``make run`` says so in one line and exits
    non-zero, having printed no URL, key or link (the listener's answers would have been taken
    for the gateway's)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        said = _refused_start(tmp_path, run_env(tmp_path, private_redis), port)
    assert f"127.0.0.1:{port} is taken" in said


def _store_in_a_missing_folder(tmp_path: Path) -> str:
    (tmp_path / "a-file").write_text("")
    return f"sqlite+aiosqlite:///{tmp_path / 'a-file' / 'aitopup.db'}"


def _store_that_is_a_folder(tmp_path: Path) -> str:
    (tmp_path / "aitopup.db").mkdir()
    return "sqlite+aiosqlite:///./aitopup.db"


def _store_migrated_by_a_newer_version(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'aitopup.db'}"
    upgrade(url)
    with sqlite3.connect(tmp_path / "aitopup.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_a_newer_version'")
    return url


def _store_no_server_answers_for(tmp_path: Path) -> str:
    return f"postgresql+asyncpg://aitopup:hunter2@127.0.0.1:{free_port()}/aitopup"


def _refused_here(
    folder: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> str:
    """``make run``'s start in this process (``devrun.run``, what ``aitopup run`` calls) in
    ``folder`` on ``env``, expected to fail: the one line that ends it, a ``SystemExit``'s,
    which the interpreter prints alone and exits 1 for; nothing else written (no key, no URL,
    no traceback). ``test_a_taken_port_is_a_failure_not_a_welcome`` starts a process of its
    own as a newcomer does."""
    monkeypatch.chdir(folder)
    for name in ("AITOPUP_DATABASE_URL", "AITOPUP_KEY_PEPPER", "AITOPUP_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:
        devrun.run(host="127.0.0.1", port=free_port())
    said = ended.value.code
    assert isinstance(said, str) and said.startswith("aitopup run: ") and "\n" not in said
    assert capsys.readouterr() == ("", "")
    return said


@pytest.mark.parametrize(
    ("store", "says"),
    [
        (_store_in_a_missing_folder, "cannot be opened or migrated (unable to open database"),
        (_store_that_is_a_folder, "cannot be opened or migrated (unable to open database"),
        (_store_migrated_by_a_newer_version, "was migrated by a newer aiTopUp"),
        (_store_no_server_answers_for, "cannot be opened or migrated ("),
    ],
)
def test_a_start_its_store_fails_says_why_in_one_line(
    tmp_path: Path,
    private_redis: RedisServer,
    store: Callable[[Path], str],
    says: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A folder that cannot exist, a file that cannot be opened, a store a newer version
    migrated, a database server that does not answer: one line naming the store (never its
    password) and what to do, and a non-zero status; no traceback (``_refused_here``)."""
    url = store(tmp_path)
    env = {"AITOPUP_DATABASE_URL": url, "AITOPUP_REDIS_URL": private_redis.url}
    said = _refused_here(tmp_path, env, monkeypatch, capsys)
    assert says in said and "AITOPUP_DATABASE_URL" in said
    assert "hunter2" not in said


def test_a_store_file_this_user_may_not_change_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The database file belongs to another user (its mode cannot be made owner-only): the
    start ends with one line, as any other store that cannot be opened."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "aitopup.db").write_text("")
    for name in ("AITOPUP_DATABASE_URL", "AITOPUP_KEY_PEPPER", "AITOPUP_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)

    chmod = Path.chmod

    def not_yours(path: Path, mode: int) -> None:
        if path.name.startswith("aitopup.db"):
            raise PermissionError(1, "Operation not permitted", str(path))
        chmod(path, mode)

    monkeypatch.setattr(Path, "chmod", not_yours)
    with pytest.raises(SystemExit) as ended:
        devrun.run(host="127.0.0.1", port=free_port())
    said = str(ended.value.code)
    assert said.startswith("aitopup run: the store at sqlite+aiosqlite:///./aitopup.db cannot")
    assert "Operation not permitted" in said and "\n" not in said
    assert "staging key" not in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.xdist_group("make-run")
def test_a_second_start_in_a_running_folder_is_refused_in_one_line(docs_run: SharedRun) -> None:
    """While a start runs here, another (say on the port the taken-port line advises) would
    share its store and its key file and revoke the key it printed: it is refused with one
    line, and the first start's key keeps working (once it stops, the folder is free: the
    stopping test)."""
    run = docs_run.serving()
    said = _refused_start(run.cwd, run.env, run.port + 1)
    assert "a start already runs in this folder" in said
    assert f"serving {run.base}" in said and "Ctrl-C" in said
    balance = httpx.get(
        f"{run.base}/api/public/v1/balance",
        headers={"Authorization": f"Bearer {run.key}"},
        timeout=10,
    )
    assert balance.status_code == 200, balance.text


@pytest.mark.slow
@pytest.mark.xdist_group("make-run")
def test_a_redis_that_needs_a_password_is_used_as_given(docs_run: SharedRun) -> None:
    """``AITOPUP_REDIS_URL`` names a Redis that needs a password (the shared start's): ``make
    run`` uses it (its worker connects there), and starts no Redis of its own in its place."""
    run = docs_run.serving()
    assert not any("started" in line and "Redis" in line for line in run.printed)
    assert not (run.cwd / ".aitopup" / "redis").exists()
    client = redis.Redis.from_url(run.env["AITOPUP_REDIS_URL"])
    deadline = time.monotonic() + 60
    # Its own connection, and the worker's (and the gateway's) beside it.
    while len(cast(list[object], client.client_list())) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)  # polled, within the deadline above
    client.close()


def test_a_redis_that_refuses_the_url_ends_the_start_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong password is not "no Redis answers": the start says which Redis refused and
    what to correct, and starts none of its own; it is asked before the store is migrated,
    which is left untouched (``_refused_here``)."""
    binary = shutil.which("redis-server")
    assert binary is not None
    with RedisServer(binary, None, tmp_path / "redis", password="s3cret") as protected:
        wrong = f"redis://:wrong@127.0.0.1:{protected.port}/0"
        said = _refused_here(tmp_path, {"AITOPUP_REDIS_URL": wrong}, monkeypatch, capsys)
    assert f"the Redis at 127.0.0.1:{protected.port} refused AITOPUP_REDIS_URL" in said
    assert "wrong" not in said.split("(", 1)[0]  # the password is not repeated
    assert not (tmp_path / ".aitopup" / "redis").exists()
    assert not (tmp_path / "aitopup.db").exists()


def test_no_redis_at_a_url_with_a_password_ends_the_start_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL with a password, or another machine's, names a Redis ``make run`` cannot stand in
    for: when none answers there the start says so and stops (``_refused_here``)."""
    port = free_port()
    for url in (f"redis://:s3cret@127.0.0.1:{port}/0", "redis://redis.invalid:6379/0"):
        said = _refused_here(tmp_path, {"AITOPUP_REDIS_URL": url}, monkeypatch, capsys)
        assert "no Redis answers at" in said and "AITOPUP_REDIS_URL" in said, said
        assert "s3cret" not in said
    assert not (tmp_path / ".aitopup" / "redis").exists()


@pytest.mark.slow
def test_make_run_says_where_it_started_a_redis_of_its_own(tmp_path: Path) -> None:
    """No Redis answers on this machine at the URL: ``make run`` starts its own and says so,
    with where, and Ctrl-C stops it."""
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "run", "--port", str(free_port())],
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "AITOPUP_REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "AITOPUP_LOG_LEVEL": "WARNING",
            **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ},
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            printed = printed_until_the_key(proc)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(timeout=30) == 0
    [said] = [line for line in printed if line.startswith("aitopup run: no Redis answers")]
    ours = re.search(r"started \S+ at 127\.0\.0\.1:(\d+) \(its files in \.aitopup/redis\)", said)
    assert ours is not None, said
    assert f"127.0.0.1:{port}" in said
    assert not redis_server_answers(f"redis://127.0.0.1:{ours.group(1)}/0")  # stopped with it


@pytest.mark.slow
async def test_a_start_that_cannot_make_its_key_says_why_and_fails(
    settings: Settings, tmp_path: Path, private_redis: RedisServer
) -> None:
    """The demo merchant already holds its cap of keys (not one printed by ``make run``): the
    start fails with a line saying why and a non-zero status, and stops what it started."""
    secrets = {"AITOPUP_KEY_PEPPER": "p" * 43, "AITOPUP_SECRET_KEY": "s" * 43}
    env = run_env(tmp_path, private_redis, **secrets)
    cli = [sys.executable, "-m", "gateway.cli"]
    # The store ``make run`` finds in its folder, made here rather than by three more commands.
    store = settings.model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'aitopup.db'}"}
    )
    await asyncio.to_thread(upgrade, store.database_url)
    merchant = await asyncio.to_thread(create_merchant, store, "demo")
    await asyncio.to_thread(create_key, store, "staging", merchant.id)
    (tmp_path / ".aitopup").mkdir(exist_ok=True)
    (tmp_path / ".aitopup" / "demo-merchant").write_text(merchant.id + "\n")
    port = free_port()
    ran = await asyncio.to_thread(
        subprocess.run,
        [*cli, "run", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "AITOPUP_MAX_KEYS_PER_MERCHANT_ENV": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode != 0, ran.stdout
    assert "aitopup run: could not make the demo's key: 2311" in ran.stderr
    assert "staging key" not in ran.stdout
    with pytest.raises(httpx.ConnectError):
        async with local_client() as http:
            await http.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


@pytest.fixture(scope="module")
def docs_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedRun]:
    """One ``make run`` as the docs start it (the demo's staging wallet empty), for the tests
    that only read what it printed or what it serves; at ``info``, every process's log line
    among what it prints, so that one that should not be there shows; on a Redis that needs a
    password."""
    folder = tmp_path_factory.mktemp("docs-run")
    binary = shutil.which("redis-server")
    assert binary is not None
    with RedisServer(binary, None, folder / "redis", password="s3cret") as protected:
        env = run_env(
            folder,
            protected,
            AITOPUP_STAGING_INITIAL_BALANCE_CENTS="0",
            AITOPUP_LOG_LEVEL="INFO",
        )
        run = SharedRun(folder, env)
        try:
            yield run
        finally:
            run.stop()


@pytest.mark.slow
@pytest.mark.xdist_group("make-run")
def test_make_run_serves_on_the_port_it_is_given(docs_run: SharedRun) -> None:
    """`make run PORT=…` as a newcomer types it (the target runs `aitopup run --port`): the
    gateway answers a send with the printed key on that port (refused for funds: the docs'
    start leaves the staging wallet empty; a send that goes through is the payments' test),
    and the CLI beside it learns the URL."""
    run = docs_run.serving()
    base = run.base
    assert f"aiTopUp gateway: {base}/api/public/v1" in run.printed
    reply = httpx.post(
        f"{base}/api/public/v1/topup/send",
        headers={"Authorization": f"Bearer {run.key}"},
        json={"platform": "claude", "amount_cents": 100, "recipient_email": "a@example.com"},
        timeout=10,
    )
    assert reply.json()["code"] == 4001, reply.text
    plans = httpx.get(
        f"{base}/api/public/v1/subscription/plans",
        headers={"Authorization": f"Bearer {run.key}"},
        timeout=10,
    )
    assert [p["id"] for p in plans.json()["data"]] == ["plan_demo_pro"], plans.text
    assert (run.cwd / ".aitopup" / "gateway-url").read_text().strip() == base


@asynccontextmanager
async def _sign_in_by(link: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser that opens ``link`` (a set-password or reset page), posts its form as a person
    does and keeps the session it starts: signed in."""
    async with local_client(follow_redirects=False) as browser:
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
        said = await asyncio.to_thread(demo.welcome, settings, root)
        key = re.search(r"staging key \(merchant demo, (mer_\w+)\): (\S+)", said)
        assert key is not None, said
        [link] = re.findall(r"^(http://\S+/dashboard/set-password\?token=\S+)$", said, re.M)
        assert link.startswith(root + "/") and demo.DEMO_EMAIL in said
        async with local_client(base_url=f"{root}/api/public/v1") as api:
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
        async with local_client() as again:
            assert (await again.get(link)).status_code == 404  # spent

        # The next start: the demo user has a password now, so its link is a reset's.
        said = await asyncio.to_thread(demo.welcome, settings, root)
        [link] = re.findall(r"^(http://\S+/dashboard/reset-password\?token=\S+)$", said, re.M)
        async with _sign_in_by(link, "another password 0123") as browser:
            overview = await browser.get(f"{root}/dashboard/topups")
            assert txn in overview.text


async def test_each_starts_sign_in_link_voids_the_one_the_last_start_printed(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the demo user has a password, each start prints a reset link that replaces the last
    one: however often ``make run`` starts, one printed link works, the newest."""
    monkeypatch.chdir(tmp_path)
    # A store of its own: the demo address is nobody else's account there.
    fresh = settings.model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"}
    )
    await asyncio.to_thread(upgrade, fresh.database_url)
    link = re.compile(r"^(http://\S+/dashboard/(?:set|reset)-password\?token=\S+)$", re.M)
    async with live_server(fresh) as root, local_client() as http:
        said = await asyncio.to_thread(demo.welcome, fresh, root)
        [first] = link.findall(said)
        async with _sign_in_by(first, "demo password 0123"):
            pass
        printed = []
        for _ in range(3):
            said = await asyncio.to_thread(demo.welcome, fresh, root)
            printed += link.findall(said)
        assert len(set(printed)) == 3 and all("/reset-password?" in each for each in printed)
        for each in printed[:-1]:
            assert (await http.get(each)).status_code == 404  # replaced by the next start's
        async with _sign_in_by(printed[-1], "another password 0123") as browser:
            assert (await browser.get(f"{root}/dashboard/")).status_code == 200


async def _pays_with_x402(base: str, key: str) -> httpx.Response:
    """docs/agents-that-pay.md's x402 client, word for word."""
    from eth_account import Account
    from x402 import SchemeRegistration, x402Client, x402ClientConfig
    from x402.http.clients.httpx import x402HttpxClient
    from x402.mechanisms.evm.exact import ExactEvmScheme
    from x402.mechanisms.evm.signers import EthAccountSigner

    wallet = ExactEvmScheme(signer=EthAccountSigner(Account.create()))
    payer = x402Client.from_config(
        x402ClientConfig(
            schemes=[SchemeRegistration(network="eip155:*", client=wallet)],
            spend_controls={"max_amount_per_payment": "$20"},
        )
    )
    body = {"platform": "claude", "recipient_email": "a@example.com", "amount_cents": 1234}
    headers = {"Authorization": f"Bearer {key}"}
    async with x402HttpxClient(payer, timeout=30) as http:
        return await http.post(f"{base}/topup/send", json=body, headers=headers)


async def _pays_with_mpp(base: str, key: str) -> httpx.Response:
    """docs/agents-that-pay.md's MPP client, word for word."""
    from mpp.client import Mpp  # type: ignore[attr-defined]  # named without an __all__ entry
    from mpp.methods.stripe import client as stripe

    headers = {"Authorization": f"Bearer {key}"}

    async def create_token(params: Any) -> str:
        async with local_client() as http:
            minted = await http.post(
                f"{base}/billing/sandbox/shared-payment-tokens",
                json={"amount_cents": int(params.amount), "currency": params.currency},
                headers=headers,
            )
        token: str = minted.json()["data"]["id"]
        return token

    method = stripe.charge(create_token=create_token, payment_method="pm_card_visa")
    async with (
        Mpp(methods=[method]) as mpp,
        httpx.AsyncClient(transport=mpp.payment_transport) as http,
    ):
        return await http.post(
            f"{base}/topup/send",
            json={"platform": "claude", "recipient_email": "a@example.com", "amount_cents": 1234},
            headers={**headers, "Idempotency-Key": "agent-1"},
        )


ROOT = Path(__file__).resolve().parents[2]


def _shows_what_was_printed(page: Path, printed: list[str], port: int) -> None:
    """The first output a page shows (its first block with no language) is what a first start
    printed, line for line, blank lines, log lines and the send to try aside (the page shows
    that in a block of its own): each ``…`` stands for what differs from start to start (an
    id, a key, a token, a time, a port), and the gateway's port is the docs' 8000."""
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", page.read_text(), re.M | re.S)
    sample = next(text for language, text in blocks if not language).splitlines()
    # The processes' JSON log lines are the log's, not what the start says.
    said = (line for line in printed if not line.startswith(("curl ", "{")))
    lines = [line for line in said if line]
    assert len(sample) == len(lines), f"{page.name} shows {sample}, a start printed {lines}"
    for shown, line in zip(sample, lines, strict=True):
        pattern = re.escape(shown.replace(":8000/", f":{port}/")).replace("…", ".+?")
        assert re.fullmatch(pattern, line), f"{page.name}: {shown!r} is not {line!r}"


@pytest.mark.slow
@pytest.mark.xdist_group("make-run")
def test_make_run_takes_the_docs_mpp_and_x402_payments_in_staging(docs_run: SharedRun) -> None:
    """A fresh ``make run`` starts staging's x402 facilitator beside the gateway: the demo key's
    send refused for funds carries an x402 offer, the ``x402`` package's client pays it, and
    the send goes through with the settlement; then the docs' MPP client pays its challenge.
    Started as the docs start it, the demo's staging wallet empty; what it printed is what the
    README's and the quick start's sample output show."""
    run = docs_run.serving()
    # The facilitator's address printed beside the key, as the docs say.
    facilitator = "staging's x402 facilitator (aitopup dev x402): "
    said = run.wait_for(lambda line: line.startswith(facilitator))
    printed = run.printed[: run.printed.index(said) + 1]
    for page in (ROOT / "README.md", ROOT / "docs" / "quickstart.md"):
        _shows_what_was_printed(page, printed, run.port)
    settles = said.rsplit(" ", 1)[-1]
    assert httpx.get(f"{settles}/supported", timeout=10).status_code == 200
    base = f"{run.base}/api/public/v1"
    reply = asyncio.run(_pays_with_x402(base, run.key))
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"]["payment"]["amount_cents"] == 1300
    assert reply.headers["payment-response"]
    mpp = asyncio.run(_pays_with_mpp(base, run.key))
    assert mpp.status_code == 200, mpp.text
    # 1,168 short (the x402 payment left 66 cents): a challenge for 1,200.
    assert mpp.json()["data"]["payment"]["amount_cents"] == 1200
    assert mpp.headers["payment-receipt"]


async def _staging_offer(settings: Settings, key: str) -> tuple[list[str], list[dict[str, Any]]]:
    """What a staging merchant is offered, asked as its key asks: the channels it may pay
    through and the plans on sale."""
    async with (
        live_server(settings) as root,
        local_client(
            base_url=f"{root}/api/public/v1", headers={"Authorization": f"Bearer {key}"}
        ) as api,
    ):
        info = await api.get("/billing/topup-info")
        plans = await api.get("/subscription/plans")
    assert info.status_code == 200 and plans.status_code == 200, (info.text, plans.text)
    channels = [c["channel"] for c in info.json()["data"]["channels"]]
    return channels, plans.json()["data"]


async def test_make_run_puts_the_demo_plans_and_every_channels_sandbox_on_sale_once(
    settings: Settings, tmp_path: Path
) -> None:
    """A fresh store offered only the sandbox and Stripe, and no plan: ``make run`` seeds the
    demo plans and every channel's sandbox in staging; a second start adds nothing, and what an
    operator turned off stays off."""
    fresh = settings.model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"}
    )
    await asyncio.to_thread(upgrade, fresh.database_url)
    merchant = await asyncio.to_thread(create_merchant, fresh, "seeded")
    _, _, key = await asyncio.to_thread(create_key, fresh, "staging", merchant.id)
    with_pages = [p.name for p in registry.all_providers() if p.kinds]
    assert len(with_pages) > 2  # more than the sandbox and Stripe to offer

    seeded = await asyncio.to_thread(demo.seed_staging, fresh)
    assert seeded == [
        *(f"channel {name}" for name in with_pages if name not in (SANDBOX, STRIPE)),
        "plan Pro",
    ]
    channels, plans = await _staging_offer(fresh, key)
    assert channels == with_pages
    [pro] = plans
    shape = dict(demo.DEMO_PLANS)["plan_demo_pro"]
    assert pro == {"id": "plan_demo_pro", "currency": "USD", **shape}

    # An operator stops selling the plan and turns a channel off; the next starts keep that.
    call = Call("ops", "set", "PUT", "/", None)
    async with command_store(fresh) as db:
        audited = await _audit_lines(db)
        await plan_admin.update_plan(db, fresh, call, pro["id"], PlanUpdate(active=False))
        turned_off = with_pages[-1]
        await channel_admin.set_channel(
            db, fresh, call, turned_off, "staging", ChannelSet(enabled=False)
        )
    for _ in range(2):
        assert await asyncio.to_thread(demo.seed_staging, fresh) == []
    channels, plans = await _staging_offer(fresh, key)
    assert channels == [name for name in with_pages if name != turned_off] and plans == []
    async with command_store(fresh) as db:
        assert await _audit_lines(db) == audited + 2  # the operator's two, no seed again


async def _audit_lines(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(AuditRecord))).scalar_one())


@pytest.mark.slow
@pytest.mark.xdist_group("make-run")
def test_on_make_run_one_merchants_wallet_pays_anothers_402_once(docs_run: SharedRun) -> None:
    """The demo merchant's send refused for funds (its staging wallet started empty, and short
    of each send), paid by another merchant's wallet, made with the command line in the start's
    folder, with MPP, then with x402 (staging's facilitator under ``make run``): each payment
    moves its amount once, and the worker learns the seller used it
    (``tests.fixtures.demo_agents``)."""
    run = docs_run.serving()
    run.wait_for(lambda line: line.startswith("staging's x402 facilitator"))
    payer_key_ = payer_key(run.cwd, run.env)
    with httpx.Client(base_url=f"{run.base}{API}/", timeout=30) as http:
        seller, payer = Agent(http, run.key), Agent(http, payer_key_)
        had = seller.balance()
        assert had < 1150 and payer.balance() == 0
        funded = payer.post("/sandbox/fund", {"amount_cents": FUNDED})
        assert funded.status_code == 200, funded.text

        payments = [pays_once(seller, payer, "mpp", 1150)]
        payments.append(pays_once(seller, payer, "x402", 1234))
        paid = sum(p["amount_cents"] for p in payments)
        for payment in payments:
            used = used_by_the_seller(payer, payment["id"])
            assert used["used_cents"] == payment["amount_cents"]
        # The seller took all of each: nothing released, each debited once.
        assert payer.balance() == FUNDED - paid
        assert payer.ledger() == [
            ("sandbox_fund", FUNDED),
            *(("payment_debit", -p["amount_cents"]) for p in payments),
        ]
        assert seller.balance() == had + paid - 1150 - 1234


@pytest.mark.slow
@pytest.mark.xdist_group("make-run")
def test_make_run_prints_no_access_line_a_request_and_ctrl_c_stops_it(
    docs_run: SharedRun,
) -> None:
    """The terminal ``make run`` prints is its own lines: a request served there writes no JSON
    access line among them, at the level that shows every other ``info`` line (``aitopup serve``
    keeps the access log: ``AITOPUP_ACCESS_LOG``). Ctrl-C (SIGINT to the process group) stops
    every process it started, its last line says so, and the folder is free for the next start;
    what it printed is read once stopped, when every process has written all it would."""
    run = docs_run.serving()
    for _ in range(3):
        reply = httpx.get(
            f"{run.base}/api/public/v1/balance",
            headers={"Authorization": f"Bearer {run.key}"},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text
    assert httpx.get(f"{run.base}/dashboard/sign-in", timeout=10).status_code == 200
    printed = run.stop()
    assert any(line.startswith("{") for line in printed), printed  # info lines are printed
    assert not [line for line in printed if "aitopup.access" in line], printed
    # Stopped: the folder is free for the next start.
    with (run.cwd / ".aitopup" / "run.lock").open() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
