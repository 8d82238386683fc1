"""Sends through an upstream provider beside the upstream's own bare rate, on SQLite.

Each stand-in (``tests/fixtures/upstreams.py``: New API, OpenRouter) runs in a uvicorn process
of its own; one gateway process sends to it, with the upstream's first try inline (each send
waits for the upstream's answer, then records it). The baseline is a closed loop straight at
the stand-in with the call a send makes there (New API: create one code; OpenRouter: set a
key's limit), so the ratio is what the gateway adds around the upstream's own cost.
"""

import asyncio
import json
import tempfile
from pathlib import Path

from gateway.ledger import grants
from gateway.ledger import service as ledger
from gateway.merchants import service as merchants
from gateway.store.db import open_database
from gateway.store.migrate import upgrade
from gateway.upstreams import config
from gateway.upstreams.providers.newapi import NewApiSet
from gateway.upstreams.providers.openrouter import OpenRouterSet
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.upstreams import (
    NEWAPI_ADMIN_TOKEN,
    OPENROUTER_MANAGEMENT_KEY,
    NewApiStandIn,
    OpenRouterStandIn,
)

from .load import Result, closed_loop
from .report import Row, failures, run_alone
from .servers import BENCH_PEPPER, BENCH_SECRET, redis_server, uvicorn_server
from .topup import CLIENTS, SECONDS, _gateway_env

__all__ = ["newapi_app", "openrouter_app", "run"]

_RECIPIENTS = 50  # OpenRouter: one key each, made by the first send to each


def newapi_app() -> object:
    return NewApiStandIn().app()


def openrouter_app() -> object:
    return OpenRouterStandIn().app()


async def _prepare(database_url: str, provider: str, root: str) -> str:
    """A staging key whose wallet outlasts any run, its claude platform through ``provider``
    at ``root``; returns the raw key."""
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        key_pepper=BENCH_PEPPER,
        secret_key=BENCH_SECRET,
        allow_private_webhook_urls=True,
    )
    db = open_database(database_url)
    try:
        now = utcnow()
        async with db.transaction() as conn:
            merchant = await merchants.create_merchant(
                conn,
                db,
                name=f"bench-{provider}",
                low_balance_threshold_cents=0,
                staging_initial_balance_cents=0,
                now=now,
            )
            _, key = await merchants.create_key(
                conn, merchant.id, "staging", BENCH_PEPPER.encode(), now
            )
            wallet_id, _ = await ledger.ensure_wallet(conn, "staging", merchant.id, now)
            await ledger.credit(conn, wallet_id, 10**12, now, grants.PAID)
            entry = ledger.Entry(wallet_id, "staging", 10**12, "adjustment")
            await ledger.append(conn, [entry], now)
        body: NewApiSet | OpenRouterSet = (
            NewApiSet(provider="newapi", base_url=root, access_token=NEWAPI_ADMIN_TOKEN, user_id=1)
            if provider == "newapi"
            else OpenRouterSet(
                provider="openrouter",
                management_key=OPENROUTER_MANAGEMENT_KEY,
                base_url=f"{root}/api/v1",
            )
        )
        sealer = Sealer(BENCH_SECRET.encode())
        await config.save(db, sealer, settings, merchant.id, "staging", "claude", body)
        return key.raw
    finally:
        await db.dispose()


def _bodies(count: int) -> list[bytes]:
    return [
        json.dumps(
            {"platform": "claude", "amount_cents": 100, "recipient_email": f"r{i}@example.com"}
        ).encode()
        for i in range(count)
    ]


def _bare(provider: str, root: str) -> Result:
    """The call a send makes upstream, straight at the stand-in."""
    if provider == "newapi":
        url = f"{root}/api/redemption/"
        headers = {"Authorization": NEWAPI_ADMIN_TOKEN, "New-Api-User": "1"}
        body = {"name": "bench", "count": 1, "quota": 500_000, "expired_time": 0}
        return asyncio.run(
            closed_loop(
                url, [json.dumps(body).encode()], _json(headers), clients=CLIENTS, seconds=SECONDS
            )
        )
    headers = {"Authorization": f"Bearer {OPENROUTER_MANAGEMENT_KEY}"}
    body = {"name": "bench", "limit": 1.0}
    return asyncio.run(
        closed_loop(
            f"{root}/api/v1/keys",
            [json.dumps(body).encode()],
            _json(headers),
            clients=CLIENTS,
            seconds=SECONDS,
        )
    )


def _json(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Content-Type": "application/json"}


def measure(provider: str, folder: Path, redis_url: str) -> tuple[Result, Result]:
    """(sends through the stand-in, the stand-in's bare rate)."""
    database_url = f"sqlite+aiosqlite:///{folder}/{provider}.db"
    upgrade(database_url)
    target = f"bench.fulfilment:{provider}_app"
    with uvicorn_server(target, {}, factory=True) as root:
        key = asyncio.run(_prepare(database_url, provider, root))
        env = _gateway_env(database_url, redis_url, {"AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS": "true"})
        count = _RECIPIENTS if provider == "openrouter" else 2_000
        with uvicorn_server("gateway.app:app_from_env", env, factory=True) as base:
            sends = asyncio.run(
                closed_loop(
                    f"{base}/api/public/v1/topup/send",
                    _bodies(count),
                    _json({"Authorization": f"Bearer {key}"}),
                    clients=CLIENTS,
                    seconds=SECONDS,
                )
            )
        bare = _bare(provider, root)
    return sends, bare


def _rows(provider: str, sends: Result, bare: Result) -> list[Row]:
    return [
        Row(
            f"send sqlite through {provider}: req/s",
            sends.throughput,
            "req/s",
            f"{provider} stand-in bare",
            bare.throughput,
            "reported",
        ),
        failures(f"send sqlite through {provider}", [sends]),
    ]


def run() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as redis_url:
        for provider in ("newapi", "openrouter"):
            rows += _rows(provider, *measure(provider, Path(tmp), redis_url))
    return rows


if __name__ == "__main__":
    run_alone(run)
