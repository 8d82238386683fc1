"""What the gateway refuses at start, and the bounds its HTTP server runs with."""

import asyncio
import gc
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from gateway import cli
from gateway.app import StartupRefused, check_startup
from gateway.cli import serving
from gateway.local_gateway import GUESSED_FOR, guess
from gateway.ops import logs
from gateway.values.settings import Settings
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET
from tests.fixtures.serving import serve

LOOPBACK = ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"]
METRICS_TOKEN = "m" * 32
REACHABLE = ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "203.0.113.7", ""]


@pytest.fixture
def base() -> Settings:
    """As production is configured: /metrics guarded by its token."""
    return Settings(
        _env_file=None,
        key_pepper=TEST_PEPPER,
        secret_key=TEST_SECRET,
        metrics_token=METRICS_TOKEN,
        public_base_url="https://gateway.example.com",
    )


def _without_token(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_token": None})


def _allowing(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_webhook_urls": True})


@pytest.mark.parametrize("host", LOOPBACK)
def test_private_webhook_urls_on_loopback_start_with_one_warning(
    base: Settings, host: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.app")
    check_startup(_allowing(base), host=host)
    (line,) = [r for r in caplog.records if r.name == "gateway.app"]
    assert line.levelno == logging.WARNING
    assert "AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS" in line.getMessage()


@pytest.mark.parametrize("host", REACHABLE)
def test_private_webhook_urls_refuse_a_gateway_others_can_reach(base: Settings, host: str) -> None:
    with pytest.raises(StartupRefused, match="AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS") as refused:
        check_startup(_allowing(base), host=host)
    assert f"bind {host}:" in str(refused.value)


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
def test_without_the_setting_any_host_starts_quietly(
    base: Settings, host: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.app")
    check_startup(base, host=host)
    assert not [r for r in caplog.records if r.name == "gateway.app"]


@pytest.mark.parametrize("host", REACHABLE)
def test_open_metrics_refuse_a_gateway_others_can_reach(base: Settings, host: str) -> None:
    with pytest.raises(StartupRefused, match="AITOPUP_METRICS_TOKEN") as refused:
        check_startup(_without_token(base), host=host)
    assert "\n" not in str(refused.value)
    assert f"bind {host}:" in str(refused.value)


@pytest.mark.parametrize("host", LOOPBACK)
def test_open_metrics_on_loopback_start(base: Settings, host: str) -> None:
    check_startup(_without_token(base), host=host)


def test_without_metrics_no_token_is_needed(base: Settings) -> None:
    check_startup(_without_token(base).model_copy(update={"metrics": False}), host="0.0.0.0")


@pytest.fixture
def serve_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """``aitopup serve`` up to uvicorn.run, which only records what it was given."""
    monkeypatch.chdir(tmp_path)  # no .env of this checkout
    monkeypatch.setenv("AITOPUP_KEY_PEPPER", TEST_PEPPER)
    monkeypatch.setenv("AITOPUP_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("AITOPUP_METRICS_TOKEN", METRICS_TOKEN)
    # ``serve`` guesses the public base into the environment: undone after the test.
    for name in ("AITOPUP_PUBLIC_BASE_URL", GUESSED_FOR):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setattr(logs, "configure_logging", lambda level: None)
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: runs.append(kwargs))
    return runs


def test_serve_refuses_private_webhook_urls_on_all_interfaces(
    serve_env: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS", "true")
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 2
    assert serve_env == []  # the gateway never started
    err = capsys.readouterr().err
    assert err.startswith("aitopup serve: AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS")
    assert "bind 127.0.0.1" in err
    assert cli.main(["serve", "--host", "127.0.0.1"]) == 0
    assert len(serve_env) == 1


def test_serve_refuses_open_metrics_on_all_interfaces(
    serve_env: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("AITOPUP_METRICS_TOKEN")
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 2
    assert serve_env == []  # the gateway never started
    err = capsys.readouterr().err
    assert err.startswith("aitopup serve: AITOPUP_METRICS_TOKEN")
    assert len(err.strip().splitlines()) == 1
    assert cli.main(["serve", "--host", "127.0.0.1"]) == 0  # `make run`, tests: as before
    monkeypatch.setenv("AITOPUP_METRICS", "false")
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 0
    assert len(serve_env) == 2


def test_serve_holds_the_collector_off_until_the_app_has_started(
    serve_env: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Off while this process imports the app (its lifespan turns it on: ``test_app``); on in
    a process that only watches uvicorn's, and once ``serve`` returns, refused or not."""
    held: list[tuple[int, bool]] = []
    monkeypatch.setattr(
        "uvicorn.run", lambda app, **kwargs: held.append((kwargs["workers"], gc.isenabled()))
    )
    assert cli.main(["serve", "--host", "127.0.0.1"]) == 0
    assert gc.isenabled()
    assert cli.main(["serve", "--host", "127.0.0.1", "--workers", "2"]) == 0
    assert held == [(1, False), (2, True)]
    monkeypatch.delenv("AITOPUP_METRICS_TOKEN")
    assert cli.main(["serve", "--host", "0.0.0.0"]) == 2
    assert capsys.readouterr().err.startswith("aitopup serve: AITOPUP_METRICS_TOKEN")
    assert gc.isenabled()


def test_serve_hands_uvicorn_the_gateways_bounds(
    serve_env: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AITOPUP_SERVER_LIMIT_CONCURRENCY", "77")
    monkeypatch.setenv("AITOPUP_SERVER_KEEP_ALIVE_SECONDS", "3")
    monkeypatch.setenv("AITOPUP_FORWARDED_ALLOW_IPS", "10.0.0.0/8")
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "8123"]) == 0
    (run,) = serve_env
    assert run == {
        **run,
        "host": "0.0.0.0",
        "port": 8123,
        "limit_concurrency": 77,
        "timeout_keep_alive": 3,
        "proxy_headers": True,
        "forwarded_allow_ips": "10.0.0.0/8",
    }


def test_the_bounds_have_defaults(base: Settings) -> None:
    options = serving.server_options(base)
    assert (options["limit_concurrency"], options["timeout_keep_alive"]) == (1000, 5)


async def _request(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    return reader, writer, head


async def test_the_gateway_closes_idle_connections_and_refuses_past_its_limit(
    settings: Settings,
) -> None:
    bounded = settings.model_copy(
        update={"server_limit_concurrency": 3, "server_keep_alive_seconds": 1}
    )
    async with serve(bounded) as server:
        port = server.config.port
        reader, writer, head = await _request(port)
        assert head.startswith(b"HTTP/1.1 200")
        idle_from = time.monotonic()
        # The body, then nothing: the gateway hangs up once the connection idles 1 s.
        while await asyncio.wait_for(reader.read(4096), 5):
            pass
        assert 0.8 < time.monotonic() - idle_from < 3
        writer.close()

        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        _, extra, refused = await _request(port)
        assert refused.startswith(b"HTTP/1.1 503")
        extra.close()
        for _, w in held:
            w.close()


@pytest.mark.parametrize("host", REACHABLE)
def test_a_gateway_others_reach_without_a_public_base_url_warns_its_links_are_a_guess(
    base: Settings, host: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.app")
    unset = base.model_copy(update={"public_base_url": None})
    # As ``serve`` and ``make run`` leave it: set to the served address, marked a guess.
    guessed = base.model_copy(
        update={"public_base_url": "http://127.0.0.1:8000", "public_base_url_guessed_for": host}
    )
    for settings in (unset, guessed):
        caplog.clear()
        check_startup(settings, host=host)
        (line,) = [r for r in caplog.records if r.name == "gateway.app"]
        assert line.levelno == logging.WARNING
        assert "AITOPUP_PUBLIC_BASE_URL is unset" in line.getMessage()
        assert "guess" in line.getMessage()


@pytest.mark.parametrize("host", LOOPBACK)
def test_a_gateway_on_loopback_without_a_public_base_url_starts_quietly(
    base: Settings, host: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.app")
    check_startup(base.model_copy(update={"public_base_url": None}), host=host)
    assert [r for r in caplog.records if r.name == "gateway.app"] == []


def test_serve_marks_the_public_base_url_it_guesses(monkeypatch: pytest.MonkeyPatch) -> None:
    env: dict[str, str] = {}
    guess(env, "0.0.0.0", 8123)
    assert env == {"AITOPUP_PUBLIC_BASE_URL": "http://127.0.0.1:8123", GUESSED_FOR: "0.0.0.0"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None, key_pepper=TEST_PEPPER, secret_key=TEST_SECRET)
    assert settings.public_base_guessed and settings.public_base_url_guessed_for == "0.0.0.0"
