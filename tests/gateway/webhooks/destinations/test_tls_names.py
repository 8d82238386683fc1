"""A broker reached over TLS is connected to by name, after every address the name resolves to
was judged: what keeps a name that resolves elsewhere at connect time (DNS rebinding) from
reaching that address is the certificate, which must name the host, as HTTPS's does."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.webhooks.destinations.base import DestinationError
from gateway.webhooks.destinations.clients import probe
from gateway.webhooks.destinations.redis_stream import REDIS_STREAM, RedisStreamConfig
from tests.fixtures.tls import self_signed


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Enough of Redis's protocol for a connect and a probe: every command answered."""
    with contextlib.suppress(Exception):
        while line := await reader.readline():
            if line.startswith(b"*"):
                parts = [await reader.readline() for _ in range(2 * int(line[1:]))]
                command = parts[1].strip().upper()
                writer.write(
                    b"+none\r\n"
                    if command == b"TYPE"
                    else b"+PONG\r\n"
                    if command == b"PING"
                    else b"+OK\r\n"
                )
                await writer.drain()
    writer.close()


@pytest.fixture
async def tls_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[int]:
    """A Redis stand-in on 127.0.0.1 whose certificate, trusted here, names ``localhost``."""
    _, server_side = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
    server = await asyncio.start_server(_answer, "127.0.0.1", 0, ssl=server_side)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def test_a_rediss_broker_whose_certificate_names_another_host_is_refused(
    tls_redis: int,
) -> None:
    trusted = RedisStreamConfig(url=f"rediss://localhost:{tls_redis}/0", stream="s")
    await probe(REDIS_STREAM, trusted, allow_loopback=True, seconds=5)  # the stand-in answers

    # The same certificate, trusted, but naming localhost, not the host connected to.
    other = RedisStreamConfig(url=f"rediss://127.0.0.1:{tls_redis}/0", stream="s")
    with pytest.raises(DestinationError, match=r"(?i)hostname|match|certificate"):
        await probe(REDIS_STREAM, other, allow_loopback=True, seconds=5)
