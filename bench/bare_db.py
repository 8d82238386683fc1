"""The database anchor: bare Starlette running the send's own transaction on raw asyncpg.

Each request does what a real merchant's send does to the database, written by hand on the
driver with none of the gateway around it: the key looked up by its hash, then in one
transaction the idempotency key claimed, the merchant's wallet debited by a conditional
``UPDATE … WHERE balance_cents >= $amount`` (the amount added to its undrawn debits), the
recipient's wallet credited (an upsert), the top-up row, its two ledger entries, the voucher
mail, the event and its delivery to each subscribed endpoint, and the idempotency key's answer.
The send's ratio against it is what the gateway itself costs around the same money transaction.
"""

import hashlib
import json
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keys import hash_api_key, parse_api_key

__all__ = ["app"]

_KEY = "SELECT id, merchant_id, env FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
_CLAIM = """INSERT INTO idempotency_keys (merchant_id, api_key_id, env, key, request_hash,
    created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id"""
_DEBIT = """UPDATE wallets SET balance_cents = balance_cents - $1, entry_count = entry_count + 1,
    undrawn_cents = undrawn_cents + $1, updated_at = $2
    WHERE env = $3 AND owner = $4 AND balance_cents >= $1
    RETURNING id, balance_cents, entry_count"""
_CREDIT = """INSERT INTO wallets (id, env, owner, merchant_id, platform, email, balance_cents,
    entry_count, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8)
    ON CONFLICT (env, owner) DO UPDATE SET balance_cents = wallets.balance_cents
    + EXCLUDED.balance_cents, entry_count = wallets.entry_count + 1, updated_at = $8
    RETURNING id, balance_cents, entry_count"""
_TOPUP = """INSERT INTO topups (id, env, merchant_id, api_key_id, platform, amount_cents,
    recipient_email, recipient_wallet_id, status, voucher_sealed, voucher_hash,
    recipient_balance_cents, created_at, updated_at, notify_recipient)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'delivered', $9, $10, $11, $12, $12, true)"""
_ENTRIES = """INSERT INTO ledger_entries (wallet_id, env, amount_cents, kind, reference,
    created_at, number) VALUES ($1, $3, -$4::bigint, 'topup_debit', $5, $6, $7),
    ($2, $3, $4, 'topup_credit', $5, $6, $8)"""
_MAIL = """INSERT INTO mails (id, env, merchant_id, kind, topup_id, status, attempts, generation,
    next_attempt_at, created_at, updated_at)
    VALUES ($1, $2, $3, 'voucher', $4, 'queued', 0, 0, $5, $5, $5)"""
_EVENT = """INSERT INTO events (id, env, merchant_id, type, payload, created_at)
    VALUES ($1, $2, $3, 'topup.delivered', $4, $5)"""
_FAN_OUT = """INSERT INTO webhook_deliveries (id, event_id, endpoint_id, env, merchant_id,
    event_type, status, attempts, trigger, run_start, generation, next_attempt_at, created_at,
    updated_at) SELECT $1 || id, $2, id, env, merchant_id, 'topup.delivered', 'pending', 0,
    'auto', 0, 0, $5, $5, $5 FROM webhook_endpoints WHERE merchant_id = $3 AND env = $4
    AND enabled AND deleted_at IS NULL"""
_ANSWER = "UPDATE idempotency_keys SET status_code = 200, response_body = $2 WHERE id = $1"


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pepper = os.environ["BENCH_PEPPER"].encode()
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_PG_DSN"], min_size=10, max_size=10)
    yield
    await app.state.pool.close()


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


async def send(request: Request) -> Response:
    raw = await request.body()
    body = json.loads(raw)
    amount, email, platform = body["amount_cents"], body["recipient_email"], body["platform"]
    token = request.headers["authorization"].removeprefix("Bearer ")
    key_hash = hash_api_key(parse_api_key(token), request.app.state.pepper)
    now = datetime.now(UTC)
    async with request.app.state.pool.acquire() as conn:
        key = await conn.fetchrow(_KEY, key_hash)
        merchant, env = key["merchant_id"], key["env"]
        async with conn.transaction():
            claimed = await conn.fetchval(
                _CLAIM,
                merchant,
                key["id"],
                env,
                request.headers["idempotency-key"],
                hashlib.sha256(raw).hexdigest(),
                now,
            )
            debited = await conn.fetchrow(_DEBIT, amount, now, env, f"m:{merchant}")
            owner = f"r:{merchant}:{platform}:{email}"
            recipient = await conn.fetchrow(
                _CREDIT, _id("wal"), env, owner, merchant, platform, email, amount, now
            )
            txn, voucher = _id("txn"), secrets.token_urlsafe(12)
            await conn.execute(
                _TOPUP,
                txn,
                env,
                merchant,
                key["id"],
                platform,
                amount,
                email,
                recipient["id"],
                voucher,
                hashlib.sha256(voucher.encode()).hexdigest(),
                recipient["balance_cents"],
                now,
            )
            await conn.execute(
                _ENTRIES,
                debited["id"],
                recipient["id"],
                env,
                amount,
                txn,
                now,
                debited["entry_count"],
                recipient["entry_count"],
            )
            await conn.execute(_MAIL, _id("mail"), env, merchant, txn, now)
            event = _id("evt")
            data = {"transaction_id": txn, "amount_cents": amount, "platform": platform}
            await conn.execute(_EVENT, event, env, merchant, json.dumps(data), now)
            await conn.execute(_FAN_OUT, f"dlv_{event[4:]}", event, merchant, env, now)
            reply = {"success": True, "code": 1001, "transaction_id": txn, "data": data}
            await conn.execute(_ANSWER, claimed, json.dumps(reply))
    return JSONResponse(reply)


app = Starlette(routes=[Route("/send", send, methods=["POST"])], lifespan=lifespan)
