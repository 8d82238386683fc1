"""The MCP door under test: the app on a real uvicorn socket, the SDK's own client over
streamable HTTP and over stdio (``aitopup mcp`` in a subprocess), and what tests read back."""

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import func, select

from gateway.settings import Settings
from gateway.store.db import Database
from gateway.store.models import IdempotencyRecord, LedgerEntry, Topup, table_of
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET, live_server

__all__ = [
    "SEND",
    "McpCall",
    "counts",
    "envelope_of",
    "mcp_http",
    "mcp_stdio",
    "send_args",
]

SEND: dict[str, Any] = {
    "platform": "claude",
    "amount_cents": 1000,
    "recipient_email": "user@example.com",
}


def send_args(key: str, **changes: Any) -> dict[str, Any]:
    return {**SEND, "idempotency_key": key, **changes}


@pytest.fixture(scope="session")
async def mcp_root(hook_settings: Settings) -> AsyncIterator[str]:
    """The app, MCP door included, on 127.0.0.1; staging may deliver to a local receiver."""
    async with live_server(hook_settings) as root:
        yield root


@asynccontextmanager
async def mcp_http(root: str, key: str | None) -> AsyncIterator[ClientSession]:
    """The SDK's client session over streamable HTTP, initialized, with ``key`` as Bearer."""
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{root}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def mcp_stdio(settings: Settings, key: str | None, cwd: Path) -> AsyncIterator[ClientSession]:
    """``aitopup mcp`` as an agent starts it: a subprocess given the store, Redis and the key
    through its environment (run in ``cwd``, so no ``.env`` of the checkout is read)."""
    env = {
        "AITOPUP_DATABASE_URL": settings.database_url,
        "AITOPUP_REDIS_URL": settings.redis_url,
        "AITOPUP_KEY_PEPPER": TEST_PEPPER,
        "AITOPUP_SECRET_KEY": TEST_SECRET,
        "AITOPUP_LOG_LEVEL": "WARNING",
        "PATH": os.environ.get("PATH", ""),
    }
    if key is not None:
        env["AITOPUP_API_KEY"] = key
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "gateway.cli", "mcp"], env=env, cwd=cwd
    )
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


class McpCall:
    """A tool result as a test reads it: the envelope (structured, and its text copy)."""

    def __init__(self, result: types.CallToolResult) -> None:
        self.result = result
        assert result.structuredContent is not None
        self.envelope: dict[str, Any] = result.structuredContent
        [text] = result.content
        assert isinstance(text, types.TextContent)
        # The text copy is the same JSON the REST API sends.
        assert json.loads(text.text) == self.envelope
        self.text = text.text

    @property
    def code(self) -> int:
        code: int = self.envelope["code"]
        return code

    @property
    def is_error(self) -> bool:
        return bool(self.result.isError)

    @property
    def data(self) -> Any:
        return self.envelope["data"]


async def envelope_of(
    session: ClientSession, name: str, arguments: dict[str, Any] | None = None
) -> McpCall:
    return McpCall(await session.call_tool(name, arguments or {}))


async def counts(db: Database, merchant_id: str) -> dict[str, int]:
    """Rows a send writes for a merchant: top-ups, ledger entries (all), idempotency keys."""
    t, entries, keys = table_of(Topup), table_of(LedgerEntry), table_of(IdempotencyRecord)
    async with db.read() as conn:
        topups = (
            await conn.execute(select(func.count()).where(t.c.merchant_id == merchant_id))
        ).scalar_one()
        ledger = (await conn.execute(select(func.count()).select_from(entries))).scalar_one()
        claimed = (
            await conn.execute(select(func.count()).where(keys.c.merchant_id == merchant_id))
        ).scalar_one()
    return {"topups": int(topups), "ledger_entries": int(ledger), "idempotency_keys": claimed}
