"""A send through MCP (streamable HTTP: a JSON-RPC ``tools/call`` POST to ``/mcp``) beside the
same send through REST, against one gateway process on SQLite, in turn, ``ROUNDS`` times (the
send's own, ``AITOPUP_BENCH_SEND_ROUNDS``).

Both carry a fresh idempotency key on every request (REST's header, the tool's argument), so
both do the same work: the claim, the send, the recorded reply. The figure is the pair whose
ratio is the median.
"""

import asyncio
import json
import tempfile
from pathlib import Path

from gateway.store.migrate import upgrade

from .load import Make, Ok, Result, closed_loop_of
from .report import Row, failures, run_alone
from .servers import redis_server, uvicorn_server
from .topup import CLIENTS, ROUNDS, SECONDS, _gateway_env, _prepare

__all__ = ["run"]


def _arguments(n: int) -> dict[str, object]:
    # Many recipients: one hot recipient row would measure lock contention, not the door.
    email = f"r{n % 2000}@example.com"
    return {"platform": "claude", "amount_cents": 100, "recipient_email": email}


def _rest(key: str, tag: str) -> Make:
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def make(n: int) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(_arguments(n)).encode()
        return body, {**auth, "Idempotency-Key": f"{tag}-{n}"}

    return make


def _mcp(key: str, tag: str) -> Make:
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-06-18",
    }

    def make(n: int) -> tuple[bytes, dict[str, str]]:
        arguments = {**_arguments(n), "idempotency_key": f"{tag}-{n}"}
        call = {
            "jsonrpc": "2.0",
            "id": n,
            "method": "tools/call",
            "params": {"name": "send_topup", "arguments": arguments},
        }
        return json.dumps(call).encode(), headers

    return make


async def _closed_loop(url: str, make: Make, ok: Ok) -> Result:
    """``CLIENTS`` clients for ``SECONDS``, as the send's own benchmark runs them."""
    return await closed_loop_of(url, make, ok, clients=CLIENTS, seconds=SECONDS)


def _rest_ok(status: int, body: bytes) -> bool:
    return status < 300


def _mcp_ok(status: int, body: bytes) -> bool:
    return status == 200 and b'"isError":false' in body


def measure(folder: str, redis_url: str) -> tuple[Result, Result, list[Result]]:
    """(MCP, REST, every loop): the pair whose ratio is the median of ``ROUNDS``."""
    database_url = f"sqlite+aiosqlite:///{folder}/mcp.db"
    upgrade(database_url)
    key = asyncio.run(_prepare(database_url))
    env = _gateway_env(database_url, redis_url, {})
    pairs: list[tuple[Result, Result]] = []
    with uvicorn_server("gateway.app:app_from_env", env, factory=True) as base:
        for n in range(ROUNDS):
            rest = asyncio.run(
                _closed_loop(f"{base}/api/public/v1/topup/send", _rest(key, f"r{n}"), _rest_ok)
            )
            mcp = asyncio.run(_closed_loop(f"{base}/mcp", _mcp(key, f"m{n}"), _mcp_ok))
            pairs.append((mcp, rest))
    mcp, rest = sorted(pairs, key=lambda pair: pair[0].throughput / pair[1].throughput)[ROUNDS // 2]
    return mcp, rest, [loop for pair in pairs for loop in pair]


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as redis_url:
        mcp, rest, loops = measure(tmp, redis_url)
    return [
        Row(
            f"send sqlite via MCP: req/s at {CLIENTS} clients",
            mcp.throughput,
            "req/s",
            "same send via REST",
            rest.throughput,
            ">= 0.50",
        ),
        Row(
            f"send sqlite via MCP: p99 ms at {CLIENTS} clients",
            mcp.percentile(0.99),
            "ms",
            "REST p99",
            rest.percentile(0.99),
            "-",
        ),
        failures("send sqlite via MCP and REST", loops),
    ]


if __name__ == "__main__":
    run_alone(run)
