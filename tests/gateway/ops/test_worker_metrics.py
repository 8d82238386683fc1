"""The worker's own /metrics port answers as the gateway's route does: the token's bearer alone
when it is set, loopback clients alone when it is not."""

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

from gateway.ops.metrics import guarded_app, start_metrics_server
from gateway.redis_server import free_port
from tests.fixtures.core import local_client

TOKEN = "metrics-token-0123456789abcdef-0123456789"


def _call(token: str | None, remote: str, authorization: str = "") -> tuple[str, bytes]:
    seen: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        seen.append(status)

    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/metrics",
        "QUERY_STRING": "",
        "REMOTE_ADDR": remote,
    }
    if authorization:
        environ["HTTP_AUTHORIZATION"] = authorization
    body: Iterable[bytes] = guarded_app(token)(environ, start_response)
    return seen[0], b"".join(body)


@pytest.mark.parametrize("remote", ["10.0.0.5", "203.0.113.7", "2001:db8::1", ""])
def test_without_a_token_only_loopback_is_answered(remote: str) -> None:
    assert _call(None, remote)[0].startswith("404")
    assert _call(None, "127.0.0.1")[0].startswith("200")
    assert _call(None, "::1")[0].startswith("200")


def test_with_a_token_its_bearer_alone() -> None:
    assert _call(TOKEN, "127.0.0.1")[0].startswith("401")
    assert _call(TOKEN, "127.0.0.1", f"Bearer {TOKEN}x")[0].startswith("401")
    assert _call(TOKEN, "10.0.0.5", f"Bearer {TOKEN}")[0].startswith("200")


async def test_the_port_serves_the_guarded_app() -> None:
    port = free_port()
    server = start_metrics_server(port, "127.0.0.1", token=TOKEN)  # bound once it returns
    try:
        async with local_client(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/metrics")).status_code == 401
            answered = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert answered.status_code == 200
    finally:
        await asyncio.to_thread(server.shutdown)
        server.server_close()
