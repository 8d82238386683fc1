"""No secret in clear at rest: a scan of the raw store and of Redis finds none of the vouchers,
API keys, webhook secrets, ed25519 signing keys, secret custom headers (in the test inbox too),
the test inbox's token, redemption codes, OAuth secrets, codes and tokens the gateway handed
out, and payer keys (the one a merchant imported, in either spelling)."""

import asyncio
import os
import stat
from pathlib import Path

import anyio
import httpx
from redis.asyncio import Redis
from sqlalchemy import make_url, text
from starlette.types import ASGIApp

from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.migrate import upgrade
from gateway.values.clock import utcnow
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.oauth import Flow, register_app
from worker.retention import purge_idempotency


async def _store_text(db: Database) -> bytes:
    """Every byte the store keeps: the SQLite file and its WAL as they are on disk, or every
    row of every PostgreSQL table as text."""
    url = make_url(str(db.engine.url))
    if url.drivername.startswith("sqlite"):
        path = Path(str(url.database))
        files = [str(p) for p in (path, Path(f"{path}-wal")) if p.exists()]
        # Read by another process: closing a descriptor of the file in this one would drop every
        # POSIX lock this process holds on it, SQLite's too, and another process closing its
        # last connection would then take the WAL away from under this one's.
        return (await anyio.run_process(["cat", *files])).stdout
    async with db.read() as conn:
        tables = [
            row.table_name
            for row in await conn.execute(
                text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                )
            )
        ]
        chunks = []
        for table in tables:
            rows = await conn.execute(text(f'SELECT t::text AS row FROM "{table}" t'))  # noqa: S608
            chunks += [row.row.encode() for row in rows]
    return b"\n".join(chunks)


async def _redis_text(redis_url: str) -> bytes:
    redis = Redis.from_url(redis_url)
    chunks: list[bytes] = []
    try:
        async for key in redis.scan_iter(count=1000):
            kind = (await redis.type(key)).decode()
            if kind == "string":
                chunks.append(await redis.get(key) or b"")
            elif kind == "hash":
                chunks += [k + v for k, v in (await redis.hgetall(key)).items()]
            elif kind == "zset":
                chunks += await redis.zrange(key, 0, -1)
            elif kind == "list":
                chunks += await redis.lrange(key, 0, -1)
            elif kind == "set":
                chunks += list(await redis.smembers(key))
            chunks.append(key)
    finally:
        await redis.aclose()
    return b"\n".join(chunks)


async def test_no_secret_is_kept_in_clear(
    db: Database,
    redis_url: str,
    make_merchant: MakeMerchant,
    client: httpx.AsyncClient,
    hook_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    app: ASGIApp,
) -> None:
    merchant = await make_merchant()
    secrets: list[str] = [merchant.key]
    for n in range(3):
        reply = await client.post(
            "/topup/send",
            json={"platform": "gemini", "amount_cents": 10, "recipient_email": f"s{n}@example.com"},
            headers={**merchant.headers, "Idempotency-Key": f"at-rest-{n}"},
        )
        assert reply.json()["code"] == 1001
        secrets.append(reply.json()["data"]["voucher_code"])
    header_secret = f"Bearer hdr-{merchant.merchant_id}-kept-sealed"
    endpoint = await hook_client.post(
        "/webhooks/endpoints",
        json={
            "url": "http://127.0.0.1:9/hook",
            "signing": "both",
            "headers": [{"name": "Authorization", "value": header_secret, "secret": True}],
        },
        headers=merchant.headers,
    )
    secrets += [endpoint.json()["data"]["secret"], header_secret]
    # The test inbox's token, and a request to it carrying the endpoint's secret header.
    inbox = await hook_client.get("/webhooks/inbox", headers=merchant.headers)
    token = inbox.json()["data"]["url"].rsplit("/", 1)[1]
    kept = await hook_client.post(
        f"/webhooks/inbox/{token}", content=b"{}", headers={"Authorization": header_secret}
    )
    assert kept.status_code == 200, kept.text
    secrets.append(token)
    key = await admin_client.post(f"/merchants/{merchant.merchant_id}/keys", json={"env": "live"})
    secrets.append(key.json()["data"]["key"])
    codes = await admin_client.post(
        "/redemption-codes", json={"count": 3, "amount_cents": 100, "env": "staging"}
    )
    secrets += codes.json()["data"]["codes"]
    # An OAuth app's secret, and a consent's code and tokens.
    made = await register_app(client, merchant)
    flow = Flow(app, made["id"], made["client_secret"])
    code = await flow.code(await sign_up_on(dashboard_client(app)))
    tokens = (await flow.token(code)).json()
    secrets += [made["client_secret"], code, tokens["access_token"], tokens["refresh_token"]]
    # A payer key imported for x402: its hex digits, whatever their case.
    payer_key = "0x" + "5c" * 31 + "01"
    imported = await client.post(
        "/payments/payer-keys",
        json={"protocol": "x402", "private_key": payer_key},
        headers=merchant.headers,
    )
    assert imported.status_code == 201, imported.text
    secrets += [payer_key[2:], payer_key[2:].upper()]
    assert len(secrets) == 17 and all(secrets)

    at_rest = await _store_text(db) + await _redis_text(redis_url)
    found = [s[:12] + "…" for s in secrets if s.encode() in at_rest]
    assert not found, f"in clear at rest: {found}"
    # The endpoint's ed25519 private key is never shown, so look for its form: none in clear.
    assert b"whsk_" not in at_rest
    assert endpoint.json()["data"]["public_key"].encode() in at_rest  # the public one is


async def test_expired_idempotency_keys_are_purged(
    db: Database, make_merchant: MakeMerchant, client: httpx.AsyncClient
) -> None:
    merchant = await make_merchant()
    sent = await client.post(
        "/topup/send",
        json={"platform": "gemini", "amount_cents": 10, "recipient_email": "p@example.com"},
        headers={**merchant.headers, "Idempotency-Key": "purge-me"},
    )
    assert sent.json()["code"] == 1001

    async def count() -> int:
        async with db.read() as conn:
            query = text(
                "SELECT count(*) FROM idempotency_keys WHERE merchant_id = :m AND key = 'purge-me'"
            )
            return int((await conn.execute(query, {"m": merchant.merchant_id})).scalar_one())

    assert await purge_idempotency(db, ttl_seconds=3600) >= 0
    assert await count() == 1  # within its TTL: kept
    backdated = text(
        "UPDATE idempotency_keys SET created_at = :at WHERE merchant_id = :m"
    ).bindparams(at=utcnow().replace(year=2020))
    async with db.transaction() as conn:
        await conn.execute(backdated, {"m": merchant.merchant_id})
    assert await purge_idempotency(db, ttl_seconds=3600) >= 1
    assert await count() == 0


def test_the_worker_runs_the_purge() -> None:
    from gateway.values.settings import Settings
    from worker.service import worker_settings

    settings = Settings(
        _env_file=None, key_pepper="p" * 32, secret_key="s" * 32, redis_url="redis://x"
    )
    names = {job.name for job in worker_settings(settings)["cron_jobs"]}
    assert "retention" in names


async def test_a_new_sqlite_store_is_owner_only(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'private.db'}"
    old = os.umask(0o022)  # a permissive umask: the files must not follow it
    try:
        await asyncio.to_thread(upgrade, url)
        database = open_database(url)
        try:
            async with database.transaction() as conn:
                await conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
                await conn.execute(text("INSERT INTO scratch VALUES (1)"))
            wal = tmp_path / "private.db-wal"
            for path in (tmp_path / "private.db", wal):
                assert path.exists(), path
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        finally:
            await database.dispose()
    finally:
        os.umask(old)
