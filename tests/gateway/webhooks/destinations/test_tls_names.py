"""A broker reached over TLS (rediss, amqps, NATS's tls, an AWS or Pub/Sub endpoint over https)
is connected to at the address its name was judged to be, and its certificate verified against
the name: a name that resolves to a private address is refused before anything is sent, a name
that answers a public-ish address when judged and a private one after (DNS rebinding) reaches
only the judged one, and a certificate that does not name the host is refused. Every failure
to connect reads alike, so an attempt's error is no port oracle.

Real far sides on 127.0.0.1 behind their own TLS (a certificate made here, trusted through
``SSL_CERT_FILE`` and ``AWS_CA_BUNDLE``): a Redis stand-in, the shared RabbitMQ and moto behind a
TLS proxy, the Pub/Sub stand-in behind one, and a ``nats-server`` of the test's own with its TLS
on."""

import asyncio
import contextlib
import gc
import socket
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from gateway.standins.pubsub import PubSubStandIn
from gateway.webhooks.destinations.base import Broker, DestinationError
from gateway.webhooks.destinations.clients import UNREACHABLE, probe
from gateway.webhooks.destinations.eventbridge import EVENTBRIDGE, EventBridgeConfig
from gateway.webhooks.destinations.nats import NATS, NatsConfig
from gateway.webhooks.destinations.pubsub import PUBSUB, PubSubConfig
from gateway.webhooks.destinations.rabbitmq import RABBITMQ, RabbitMqConfig
from gateway.webhooks.destinations.redis_stream import REDIS_STREAM, RedisStreamConfig
from gateway.webhooks.urls import NAME_REFUSED
from tests.fixtures.brokers import NatsServer, cut_proxy, redis_stand_in
from tests.fixtures.stand_ins import served
from tests.fixtures.tls import self_signed

NAME = "broker.test"
PRIVATE = "10.20.30.40"
RABBIT_PORT = 5672

_real_getaddrinfo = socket.getaddrinfo


class Dns:
    """``socket.getaddrinfo`` for ``NAME``: the answers given in turn (the last kept), each
    question counted; any other name as the system answers it."""

    def __init__(self) -> None:
        self.answers: list[str] = []
        self.asked = 0

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != NAME:
            return _real_getaddrinfo(host, port, *args, **kwargs)
        self.asked += 1
        address = self.answers[0] if len(self.answers) == 1 else self.answers.pop(0)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[Dns]:
    answering = Dns()
    monkeypatch.setattr(socket, "getaddrinfo", answering)
    yield answering


@pytest.fixture
def certificates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Two trusted certificates: one naming ``NAME``, one naming only ``localhost``."""
    (tmp_path / "named").mkdir()
    (tmp_path / "other").mkdir()
    named_pem, named = self_signed(tmp_path / "named", (NAME,))
    other_pem, other = self_signed(tmp_path / "other")
    bundle = tmp_path / "trusted.pem"
    bundle.write_text(named_pem + other_pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    return {"named": named, "other": other, "folder": tmp_path / "named"}


@contextlib.asynccontextmanager
async def _far_side(
    kind: str, certs: dict[str, Any], which: str, moto: str
) -> AsyncIterator[BaseModel]:
    """A far side of ``kind`` on 127.0.0.1 over TLS with the ``which`` certificate, and a
    destination naming it by ``NAME``."""
    tls = certs[which]
    if kind == "rediss":
        async with redis_stand_in(tls) as redis:
            yield RedisStreamConfig(url=f"rediss://{NAME}:{redis.port}/0", stream="s")
    elif kind == "amqps":
        async with cut_proxy(RABBIT_PORT, tls=tls) as proxy:
            url = f"amqps://guest:guest@{NAME}:{proxy.port}/%2F"
            yield RabbitMqConfig(url=url, exchange="")
    elif kind == "nats":
        folder = certs["folder"].parent / f"nats-{which}"
        folder.mkdir(exist_ok=True)
        chain = "named" if which == "named" else "other"
        files = certs["folder"].parent / chain
        options = (
            "--tls",
            "--tlscert",
            str(files / "cert.pem"),
            "--tlskey",
            str(files / "key.pem"),
        )
        server = NatsServer(folder, options=options)
        server.start()
        try:
            yield NatsConfig(url=f"tls://{NAME}:{server.port}", subject="nothing.captures.this")
        finally:
            server.close()
    elif kind == "pubsub":
        topic = "projects/aitopup-test/topics/tls"
        async with served(PubSubStandIn()) as stand_in:
            stand_in.topics[topic] = []
            async with cut_proxy(int(stand_in.url.rsplit(":", 1)[1]), tls=tls) as proxy:
                yield PubSubConfig(topic=topic, endpoint_url=f"https://{NAME}:{proxy.port}")
    else:
        async with cut_proxy(int(moto.rsplit(":", 1)[1]), tls=tls) as proxy:
            yield EventBridgeConfig(
                bus="default",
                source="aitopup.test",
                region="us-east-1",
                access_key_id="testing",
                secret_access_key="testing",
                endpoint_url=f"https://{NAME}:{proxy.port}",
            )


KINDS = {
    "rediss": REDIS_STREAM,
    "amqps": RABBITMQ,
    "nats": NATS,
    "https": EVENTBRIDGE,
    "pubsub": PUBSUB,
}
# The clients that resolve names themselves, through the judging resolver (aiohttp's).
RESOLVING = frozenset({"https", "pubsub"})


async def _probe(kind: Broker, config: BaseModel) -> None:
    await probe(kind, config, allow_loopback=True, seconds=10)


@pytest.mark.parametrize("scheme", sorted(KINDS))
async def test_a_name_is_judged_once_connected_at_that_address_and_verified_by_name(
    scheme: str, dns: Dns, certificates: dict[str, Any], moto_url: str
) -> None:
    kind = KINDS[scheme]
    async with _far_side(scheme, certificates, "named", moto_url) as config:
        # Judged at 127.0.0.1 (loopback allowed here, as a public address is in live), then
        # rebound to a private address.
        dns.answers = ["127.0.0.1", PRIVATE]
        if scheme in RESOLVING:
            # aiohttp's client resolves at its own connect, through the judging resolver: the
            # rebound answer is judged there, and refused.
            with pytest.raises(DestinationError) as refused:
                await _probe(kind, config)
            assert str(refused.value) == UNREACHABLE
            assert dns.asked >= 2
            dns.answers, dns.asked = ["127.0.0.1"], 0
            await _probe(kind, config)  # judged alike both times: connected, verified by name
            assert dns.asked >= 2
            return
        # Every other client is handed the judged address: it reaches that one only, and the
        # name was asked once, by the judge.
        if scheme == "nats":  # no stream captures the subject: connected, verified, answered
            with pytest.raises(DestinationError, match="no JetStream stream captures"):
                await _probe(kind, config)
        else:
            await _probe(kind, config)
        assert dns.asked == 1


@pytest.mark.parametrize("scheme", sorted(KINDS))
async def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(
    scheme: str, dns: Dns, certificates: dict[str, Any], moto_url: str
) -> None:
    kind = KINDS[scheme]
    async with _far_side(scheme, certificates, "named", moto_url) as config:
        dns.answers = [PRIVATE]
        with pytest.raises(DestinationError) as refused:
            await _probe(kind, config)
        assert str(refused.value) == f"blocked: {NAME_REFUSED}"


@pytest.mark.parametrize("scheme", sorted(KINDS))
async def test_a_certificate_not_naming_the_host_is_refused_in_the_one_shape(
    scheme: str, dns: Dns, certificates: dict[str, Any], moto_url: str
) -> None:
    kind = KINDS[scheme]
    async with _far_side(scheme, certificates, "other", moto_url) as config:
        dns.answers = ["127.0.0.1"]
        with pytest.raises(DestinationError) as refused:
            await _probe(kind, config)
        assert str(refused.value) == UNREACHABLE


async def test_a_closed_port_and_one_speaking_something_else_read_alike(dns: Dns) -> None:
    """No port oracle: nothing listening, a listener that is no broker and one that never
    answers (past the attempt's time) are one sentence, for every broker type, TLS or not."""
    dns.answers = ["127.0.0.1"]
    # A client given up on at the attempt's time in the middle of its handshake may leave its
    # socket to the garbage collector, as may a silent listener's end: the probes run on a
    # loop of their own, closed and collected here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        said = await asyncio.to_thread(asyncio.run, _each_refused())
        gc.collect()
    assert said == {UNREACHABLE}


async def _each_refused() -> set[str]:
    ended = asyncio.Event()
    accepted: list[asyncio.StreamWriter] = []

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await ended.wait()

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
    said: set[str] = set()
    servers = [await asyncio.start_server(h, "127.0.0.1", 0) for h in (garbage, silent)]
    try:
        ports = [closed.getsockname()[1]]
        ports += [server.sockets[0].getsockname()[1] for server in servers]
        for port in ports:
            for kind, config in _each_kind(port):
                with pytest.raises(DestinationError) as refused:
                    await probe(kind, config, allow_loopback=True, seconds=1.5)
                said.add(str(refused.value))
    finally:
        ended.set()
        for writer in accepted:
            writer.close()
        for server in servers:
            server.close()
            await server.wait_closed()
        closed.close()
    return said


def _each_kind(port: int) -> list[tuple[Broker, BaseModel]]:
    return [
        (REDIS_STREAM, RedisStreamConfig(url=f"rediss://{NAME}:{port}/0", stream="s")),
        (REDIS_STREAM, RedisStreamConfig(url=f"redis://{NAME}:{port}/0", stream="s")),
        (RABBITMQ, RabbitMqConfig(url=f"amqps://u:p@{NAME}:{port}/", exchange="")),
        (RABBITMQ, RabbitMqConfig(url=f"amqp://u:p@{NAME}:{port}/", exchange="")),
        (NATS, NatsConfig(url=f"tls://{NAME}:{port}", subject="s")),
        (NATS, NatsConfig(url=f"nats://{NAME}:{port}", subject="s")),
    ]
