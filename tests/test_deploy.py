"""The compose file and the image, checked by reading them (no container runtime in tests),
and the reverse proxy's configuration, run by the real nginx in front of a real gateway."""

import asyncio
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from gateway.store.migrate import upgrade
from gateway.values.code_names import Code
from gateway.values.codes import CATALOGUE
from gateway.values.settings import Settings
from tests.fixtures.core import free_port, local_client, make_settings, wait_until
from tests.fixtures.serving import serve

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_compose_runs_migrations_first_then_two_gateways_and_two_workers() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "migrate", "gateway", "worker"} <= set(services)
    assert services["migrate"]["command"] == ["aitopup", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["gateway"]["command"][:2] == ["aitopup", "serve"]
    assert "0.0.0.0" in services["gateway"]["command"]
    assert services["worker"]["command"] == ["python", "-m", "worker"]
    for name in ("gateway", "worker"):
        service = services[name]
        assert service["deploy"]["replicas"] == 2
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["image"] == services["migrate"]["image"]  # one image for all


def test_compose_settings_are_real_settings() -> None:
    known = {f"AITOPUP_{name.upper()}" for name in Settings.model_fields}
    for name in ("migrate", "gateway", "worker"):
        env = _compose()["services"][name]["environment"]
        aitopup = {key for key in env if key.startswith("AITOPUP_")}
        assert aitopup <= known, aitopup - known
        assert env["AITOPUP_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert "${AITOPUP_KEY_PEPPER:?" in env["AITOPUP_KEY_PEPPER"]  # no secret in the file


def test_the_image_is_slim_and_runs_as_a_user() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert all("-slim" in line for line in froms)
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] not in ("USER root", "USER 0")
    assert lines[-1].startswith('CMD ["aitopup", "serve"')
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and ".venv" in ignored


# --- the reverse proxy: deploy/nginx.conf -------------------------------------------------

NGINX_CONF = ROOT / "deploy" / "nginx.conf"
_RETURN = re.compile(r"^\s*return (\d{3}) '(.*)';$", re.M)
_ENVELOPE_FIELDS = ["success", "code", "message", "transaction_id", "status", "timestamp", "data"]


def _directives(text: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;{{]*);", text, re.M)


def test_compose_puts_the_proxy_in_front_and_publishes_nothing_else() -> None:
    services = _compose()["services"]
    proxy = services["proxy"]
    assert proxy["build"] == {"context": ".", "target": "proxy"}
    assert proxy["ports"] == ["8080:8080"]
    assert proxy["depends_on"]["gateway"]["condition"] == "service_healthy"
    assert [name for name, s in services.items() if "ports" in s] == ["proxy"]
    gateway_env = services["gateway"]["environment"]
    assert "${AITOPUP_METRICS_TOKEN:?" in gateway_env["AITOPUP_METRICS_TOKEN"]
    assert "AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS" not in gateway_env


def test_the_proxy_image_is_debians_nginx_with_the_repos_config() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM debian:bookworm-slim AS proxy" in text
    assert "nginx-light" in text
    assert "COPY deploy/nginx.conf /etc/aitopup/nginx.conf" in text


def test_the_proxy_bounds_every_client() -> None:
    text = NGINX_CONF.read_text()
    for name in ("client_header_timeout", "client_body_timeout", "send_timeout"):
        (value,) = _directives(text, name)
        assert value.endswith("s") and 1 <= int(value[:-1]) <= 30, (name, value)
    assert _directives(text, "client_max_body_size") == ["1m"]
    assert _directives(text, "limit_conn") == ["per_client_conn 64"]
    assert _directives(text, "limit_req") == ["zone=per_client_req burst=400 nodelay"]
    # Both count a client as the gateway does: an IPv6 client by its /64 (run below).
    for zone in _directives(text, "limit_conn_zone") + _directives(text, "limit_req_zone"):
        assert zone.startswith("$aitopup_client "), zone
    assert _directives(text, "proxy_pass") == ["http://gateways"]
    assert "proxy_request_buffering off" not in text  # bodies are read whole before the gateway
    # Below the gateway's own limit, so the proxy's refusal (an envelope) comes first.
    (server,) = _directives(text, "server")
    max_conns = int(server.split("max_conns=")[1])
    assert max_conns < Settings.model_fields["server_limit_concurrency"].default


def test_the_proxys_refusals_are_envelopes_from_the_catalogue() -> None:
    found = _RETURN.findall(NGINX_CONF.read_text())
    assert len(found) == 5
    for status, body in found:
        envelope = json.loads(body.replace("$aitopup_timestamp", "2026-01-01T00:00:00Z"))
        assert list(envelope) == _ENVELOPE_FIELDS
        info = CATALOGUE[Code(envelope["code"])]
        assert (int(status), envelope["message"]) == (info.http_status, info.message)
        assert envelope["success"] is False


NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
)
needs_nginx = pytest.mark.skipif(
    NGINX is None,
    reason="nginx is not installed: apt-get install nginx-light (or nginx) to test the proxy",
)
DEADLINE = 1.0  # the tests' header, body and send deadlines, in seconds
BODY_PACE = 0.4  # a body's drips: slower than nginx's 300 ms of timer slack


def render(text: str, **values: str) -> str:
    """deploy/nginx.conf with the named directives' values replaced, each exactly once."""
    for name, value in values.items():
        pattern = re.compile(rf"^(\s*{name}\s+)[^;{{]*;", re.M)
        found = pattern.findall(text)
        assert len(found) == 1, f"{name} appears {len(found)} times in {NGINX_CONF.name}"
        text = pattern.sub(f"{found[0]}{value};".replace("\\", "\\\\"), text)
    return text


@asynccontextmanager
async def running_proxy(
    folder: Path, upstream: int, *, http_extra: str = "", **values: str
) -> AsyncIterator[int]:
    """The real nginx with the repo's config in front of the gateway on ``upstream``; its port.
    ``http_extra``: directives added at the top of the ``http`` block."""
    assert NGINX is not None
    port = free_port()
    seconds = f"{DEADLINE:g}s"
    text = render(
        NGINX_CONF.read_text(),
        worker_processes="1",
        listen=f"127.0.0.1:{port}",
        server=f"127.0.0.1:{upstream} max_conns=512",
        client_header_timeout=seconds,
        client_body_timeout=seconds,
        send_timeout=seconds,
        **values,
    )
    assert text.count("\nhttp {\n") == 1
    text = text.replace("\nhttp {\n", "\nhttp {\n" + http_extra, 1)
    (folder / "nginx.conf").write_text(text)
    # As root, nginx would hand its workers to nobody, who cannot reach a test's folder.
    options = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    with (folder / "access.log").open("wb") as out, (folder / "error.log").open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            NGINX,
            "-p",
            f"{folder}/",
            "-c",
            "nginx.conf",
            "-e",
            "stderr",
            "-g",
            options,
            stdout=out,
            stderr=err,
        )
    try:

        async def answers() -> bool:
            if proc.returncode is not None:
                raise AssertionError((folder / "error.log").read_text())
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return False
            writer.close()
            return True

        await wait_until(answers, within=10)
        yield port
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


@pytest.fixture(scope="module")
async def gateway(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[uvicorn.Server]:
    """A gateway as ``aitopup serve`` runs it, on a SQLite store of its own."""
    path = tmp_path_factory.mktemp("proxied") / "gateway.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    async with serve(make_settings(url, redis_url)) as server:
        yield server


async def _hold(
    port: int,
    first: bytes,
    drip: bytes,
    drips: int,
    sent: list[None] | None = None,
    *,
    pace: float = 0.25,
) -> tuple[float, float, bytes]:
    """Send ``first`` (then say so in ``sent``), then ``drip`` every ``pace`` seconds, ``drips``
    times; the seconds until the proxy hangs up, counted from the connection's start and from the
    last byte sent, and what it sent before it did."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    last_sent = started
    writer.write(first)
    await writer.drain()
    if sent is not None:
        sent.append(None)

    async def trickle() -> None:
        nonlocal last_sent
        for _ in range(drips):
            await asyncio.sleep(pace)  # the client's own pace: what is under test
            writer.write(drip)
            last_sent = time.monotonic()

    dripping = asyncio.create_task(trickle())
    received = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(4096), DEADLINE + 4):
            received += chunk
    except ConnectionResetError:
        pass
    finally:
        ended = time.monotonic()
        dripping.cancel()
        writer.close()
    return ended - started, ended - last_sent, received


async def _ask(port: int, request: bytes) -> tuple[int, dict[str, Any]]:
    """One raw request (a path or a header httpx would tidy up); the status and the envelope."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        status_line, *lines = head.decode().strip().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    finally:
        writer.close()
    return int(status_line.split()[1]), json.loads(body)


@needs_nginx
async def test_slow_clients_are_cut_at_the_proxys_deadlines(
    tmp_path: Path, gateway: uvicorn.Server
) -> None:
    began = time.monotonic()
    async with running_proxy(tmp_path, gateway.config.port) as port:
        headers = b"GET /healthz HTTP/1.1\r\nHost: proxy\r\n"
        body = (
            b"POST /api/public/v1/topup/send HTTP/1.1\r\nHost: proxy\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"platform"'
        )
        # Headers that never end, one line every 0.25 s: the whole header has one deadline.
        # Bodies trickled, then paused: nginx moves a read timer only when it would move by more
        # than 300 ms (NGX_TIMER_LAZY_DELAY), so the body is dripped slower than that, and each
        # byte restarts the body's deadline.
        sent: list[None] = []
        slow = [_hold(port, headers, b"X-Slow: 1\r\n", 40, sent) for _ in range(30)]
        slow += [_hold(port, body, b" ", 3, sent, pace=BODY_PACE) for _ in range(10)]
        held = asyncio.gather(*slow)

        async def all_sent() -> bool:
            return len(sent) == len(slow)

        await wait_until(all_sent, within=DEADLINE / 2)
        # Meanwhile the gateway holds none of them, and everyone else is answered at once.
        async with local_client(base_url=f"http://127.0.0.1:{port}") as http:
            asked = time.monotonic()
            probe = await http.get("/healthz")
            assert probe.status_code == 200
            assert time.monotonic() - asked < 0.5
        assert len(gateway.server_state.connections) <= 1  # the proxy's one kept-alive
        cuts = await held
    # The proxy's own account: forty requests cut (nginx logs 408), one passed to the gateway.
    lines = [json.loads(line) for line in (tmp_path / "access.log").read_text().splitlines()]
    assert sorted(line["status"] for line in lines) == [200] + [408] * 40
    assert [line["path"] for line in lines if line["upstream_seconds"]] == ["/healthz"]

    for seconds, _, received in cuts[:30]:  # the whole header within the deadline, or cut
        assert DEADLINE * 0.9 <= seconds <= DEADLINE + 1.5
        assert received == b""
    for seconds, quiet, received in cuts[30:]:  # a pause in the body longer than the deadline
        assert seconds >= 3 * BODY_PACE  # every drip was let in: none of them ended it
        assert DEADLINE * 0.9 <= quiet <= DEADLINE + 1.5
        assert received == b""
    assert time.monotonic() - began < 15


@needs_nginx
async def test_the_proxy_limits_each_client_and_answers_with_envelopes(
    tmp_path: Path, gateway: uvicorn.Server
) -> None:
    async with running_proxy(tmp_path, gateway.config.port, limit_conn="per_client_conn 4") as port:
        async with local_client(base_url=f"http://127.0.0.1:{port}") as http:
            # Four requests in progress (their bodies stalled): a fifth is refused at once.
            stalled = b"POST /healthz HTTP/1.1\r\nHost: proxy\r\nContent-Length: 9\r\n\r\n{"
            held = asyncio.gather(*(_hold(port, stalled, b"", 0) for _ in range(4)))
            refusals: list[httpx.Response] = []

            async def refused() -> bool:
                reply = await http.get("/healthz", headers={"X-Request-Id": "over-1"})
                refusals.append(reply)
                return reply.status_code == 429

            await wait_until(refused, within=DEADLINE)
            over = refusals[-1]
            assert over.json()["code"] == 9102
            assert (over.headers["retry-after"], over.headers["x-request-id"]) == ("1", "over-1")
            await held  # cut at the body deadline, which frees the client's room

            async def answered() -> bool:
                return (await http.get("/healthz")).status_code == 200

            await wait_until(answered, within=DEADLINE)

        # Refused from its Content-Length alone, before a byte of the body is read.
        large = b"POST /api/public/v1/topup/send HTTP/1.1\r\nHost: proxy\r\n"
        status, envelope = await _ask(port, large + b"Content-Length: 2097152\r\n\r\n")
        assert (status, envelope["code"]) == (413, 3004)
        # A header line past the proxy's buffers.
        status, envelope = await _ask(
            port, b"GET /healthz HTTP/1.1\r\nHost: proxy\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
        )
        assert (status, envelope["code"]) == (400, 9103)

        # /metrics is for the internal network only, however the path is spelled.
        for path in ("/metrics", "//metrics", "/./metrics", "/%6Detrics", "/x/../metrics"):
            asked = f"GET {path} HTTP/1.1\r\nHost: proxy\r\n\r\n"
            status, envelope = await _ask(port, asked.encode())
            assert (status, envelope["code"], envelope["data"]) == (404, 3007, None), path
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", envelope["timestamp"])


@needs_nginx
async def test_the_proxy_counts_an_ipv6_client_by_its_64(
    tmp_path: Path, gateway: uvicorn.Server
) -> None:
    # The client's address taken from a header, so one test can be many IPv6 clients.
    realip = "    set_real_ip_from 127.0.0.1;\n    real_ip_header X-Test-Client;\n"
    async with running_proxy(
        tmp_path, gateway.config.port, http_extra=realip, limit_conn="per_client_conn 4"
    ) as port:

        def stalled(client: str) -> bytes:
            return (
                f"POST /healthz HTTP/1.1\r\nHost: proxy\r\nX-Test-Client: {client}\r\n"
                "Content-Length: 9\r\n\r\n{"
            ).encode()

        # Four requests in progress from four addresses of one /64.
        held = asyncio.gather(
            *(_hold(port, stalled(f"2001:db8:1:2::{n}"), b"", 0) for n in range(1, 5))
        )
        async with local_client(base_url=f"http://127.0.0.1:{port}") as http:

            async def ask(client: str) -> httpx.Response:
                return await http.get("/healthz", headers={"X-Test-Client": client})

            async def refused() -> bool:
                # A fifth address of the same /64 is the same client: refused.
                return (await ask("2001:db8:1:2:ffff:ffff:ffff:ffff")).status_code == 429

            await wait_until(refused, within=DEADLINE)
            # Another /64, and an IPv4 client, are others: answered.
            assert (await ask("2001:db8:1:3::1")).status_code == 200
            assert (await ask("192.0.2.7")).status_code == 200
        await held
