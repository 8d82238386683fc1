"""A second baseline: bare Starlette plus the round trips a send makes on PostgreSQL.

Each request takes an asyncpg connection and runs ``SELECT 1`` as many times as a send talks to
the database (key lookup, BEGIN, the guard, the write, COMMIT). It tells how much of a send's
cost is the database conversation itself and how much is the gateway's own work.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ROUND_TRIPS = 5


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_PG_DSN"], min_size=10, max_size=10)
    yield
    await app.state.pool.close()


async def send(request: Request) -> Response:
    await request.body()
    async with request.app.state.pool.acquire() as conn:
        for _ in range(ROUND_TRIPS):
            await conn.fetchrow("SELECT 1")
    return JSONResponse({"success": True, "code": 1000, "data": {"ok": True}})


app = Starlette(routes=[Route("/send", send, methods=["POST"])], lifespan=lifespan)
