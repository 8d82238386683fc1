"""What a destination type is: how one signed delivery reaches the merchant (``deliver``), and
what the attempt came to (``Attempt``). A broker's type (``Broker``) says the rest: its
destination object's model, the broker's address in it, and the client it opens and pools,
publishes one message on, and closes; which of its errors sending again may cure; and the check
a destination passes when saved (``probe``)."""

import json
import socket
import ssl
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel

__all__ = [
    "Addressed",
    "Attempt",
    "Broker",
    "Destination",
    "DestinationError",
    "Message",
    "Published",
    "Reach",
    "Via",
    "address_of",
    "at_address",
    "masked_url",
    "named",
    "scrubbed",
]

MASK = "***"


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery as a broker carries it: the webhook body, and the Standard Webhooks headers
    (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) with the gateway's own
    beside them, as message headers, attributes or stream fields."""

    id: str  # webhook-id: what a consumer deduplicates on
    body: bytes
    headers: dict[str, str]


@dataclass(slots=True)
class Attempt:
    """What one attempt came to, whatever the type: an HTTP receiver's answer, or a broker's
    acknowledgement or its absence."""

    status: int | None = None
    headers: dict[str, str] | None = None  # what the attempt row keeps (``http._kept_headers``)
    body: str | None = None
    error: str | None = None
    # Read from every header, not only those kept; of a reply that asks for a wait alone.
    retry_after: str | None = None
    # A broker's acknowledgement: there is no status, and ``body`` says what it acknowledged
    # with.
    acked: bool = False
    # Sending again can never succeed: given up at once, not retried on the schedule.
    final: bool = False

    @property
    def succeeded(self) -> bool:
        if self.error is not None:
            return False
        return self.acked or (self.status is not None and 200 <= self.status < 300)


class Addressed(Protocol):
    """Where one delivery goes, as its leased claim says: the endpoint's URL or its sealed
    destination object, and a throttled endpoint's deadline for the first byte."""

    @property
    def endpoint_id(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def destination_sealed(self) -> str | None: ...
    @property
    def send_by(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class Published:
    """A broker's acknowledgement: what it acknowledged with, and how long it took."""

    ack: str
    seconds: float


# How a broker's client reaches its broker: only at an address the webhook URL check judged, and
# over TLS with the certificate verified against the host's NAME, whatever address was connected.
#
# A client handed a URL whose host is an address connects there without resolving anything, so
# nothing between the check and the connect can re-resolve the name (DNS rebinding). Over TLS it
# would then check the certificate against that address, which no public certificate names; so
# it is handed a context (``named``) that verifies against the name whatever hostname the client
# passes: a subclass of ``ssl.SSLContext`` whose ``wrap_bio`` and ``wrap_socket`` (the two ways
# Python's TLS is opened, by asyncio and by plain sockets alike) pin ``server_hostname`` to the
# name. Each client takes that context by its own documented parameter (redis-py's connection's
# ``ssl_context``, aio-pika's ``ssl_context``, nats-py's ``tls`` with ``tls_hostname``).
#
# A client that resolves names itself through aiohttp (aiobotocore for SQS and EventBridge,
# gcloud-aio for Pub/Sub) keeps the URL as written, so AWS's signature and the certificate both
# see the name, and is given aiohttp's documented ``resolver``: ``resolver.Judged``, which
# answers only addresses ``resolve_checked`` allowed, at every connection the client opens.


class _Named(ssl.SSLContext):
    """A client context verifying every connection's certificate against one name."""

    pinned: str

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        return super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=self.pinned,
            session=session,
        )

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        return super().wrap_bio(
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=self.pinned,
            session=session,
        )


def named(name: str) -> ssl.SSLContext:
    """A verifying client context (the system's trusted authorities, as each client's own
    default is) whose certificate check is against ``name`` on every connection."""
    context = _Named(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname and CERT_REQUIRED
    context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    context.pinned = name
    return context


@dataclass(frozen=True, slots=True)
class Reach:
    """What ``Broker.open`` connects with: ``url``, the destination's URL with its host
    replaced by a judged address; ``name``, its host as written; ``tls``, for a TLS scheme, a
    context verifying the certificate against ``name`` (else ``None``); and, for a client that
    resolves names itself (``resolver.Judged``), ``by_name``, the URL as written, and
    ``allow_loopback``, how its resolver judges."""

    url: str
    by_name: str
    name: str
    tls: ssl.SSLContext | None
    allow_loopback: bool


class KeptClients(Protocol):
    """Brokers' clients kept between deliveries (``clients.Clients``)."""

    async def publish(
        self, kind: "Broker", key: str, config: Any, message: Message, seconds: float
    ) -> Published: ...


@dataclass(frozen=True, slots=True)
class Via:
    """An environment's ways out, handed to every destination type's ``deliver``: the checked
    HTTP transport (``webhooks.transport``), the kept broker clients, a sealed destination
    object opened (``saving.opened``, cached by the worker), and an attempt's timeout."""

    transport: httpx.AsyncBaseTransport
    clients: KeptClients
    opened: Callable[[str, str, str], Any]
    seconds: float


class DestinationError(Exception):
    """A publish that did not end in the broker's acknowledgement. ``final``: sending it again
    can never succeed (the broker refuses the message itself), so the delivery is given up at
    once rather than retried on its schedule."""

    def __init__(
        self, message: str, *, final: bool = False, data: dict[str, str] | None = None
    ) -> None:
        super().__init__(message[:500])
        self.final = final
        self.data = data  # an address refused: it and its kind, as a webhook URL's refusal


class Destination(ABC):
    """A destination type: one module and one line of ``registry.DESTINATIONS``. The worker's
    delivery hands every type the same things, whatever it is: the environment's ways out
    (``clients.Via``), where the delivery goes, and the signed message."""

    name: ClassVar[str]

    @abstractmethod
    async def deliver(self, via: Via, to: Addressed, message: Message) -> Attempt:
        """One attempt: ``message`` sent, and what the far side's answer came to. Raises only
        ``transport.TooLate``, a throttled attempt whose slot passed before it was sent."""


# What a broker's message carries of the HTTP request's headers: those that describe the HTTP
# exchange itself stay out.
_HTTP_ONLY = frozenset({"user-agent", "accept-encoding"})


class Broker(Destination):
    """A broker's destination type. ``config`` is its destination object's model, whose
    ``url`` is the broker's address, judged as a webhook URL's host is; ``secrets`` its fields
    never shown again (the URL's password always is masked). A client is opened for one
    destination and kept by the worker for its next deliveries (``clients.Clients``)."""

    config: ClassVar[type[BaseModel]]
    schemes: ClassVar[dict[str, int]]  # URL scheme → default port
    secrets: ClassVar[frozenset[str]] = frozenset()

    def address(self, config: Any) -> str:
        """The URL whose host the client connects to, judged as a webhook URL's host is."""
        url: str = config.url
        return url

    @abstractmethod
    async def open(self, config: Any, reach: Reach) -> Any:
        """A client of ``config``'s broker, connected to ``reach.url``: the destination's URL
        with its host replaced by an address already checked, over TLS with ``reach.tls``,
        which verifies the certificate against the name (``Reach``)."""

    @abstractmethod
    async def publish(self, client: Any, config: Any, message: Message) -> str:
        """Publish ``message`` and wait for the broker's acknowledgement; what it acknowledged
        with (an id, a sequence number), for the attempt log."""

    async def probe(self, client: Any, config: Any) -> None:
        """What saving checks past connecting: that the exchange, stream or subject is there
        to take a message, without writing one a consumer would have to skip."""

    def unreachable(self, exc: BaseException) -> bool:
        """Whether ``exc``, raised by a publish or a probe, is a failure to connect (told in one
        shape, ``clients.UNREACHABLE``, as every failure of ``open`` is): by default never, a
        client connecting in ``open``; a client that connects anew later says which are."""
        return False

    def retryable(self, exc: BaseException) -> bool:
        """Whether sending again may succeed after ``exc``: by default, every failure may."""
        return True

    @abstractmethod
    async def close(self, client: Any) -> None:
        """Close a client ``open`` made."""

    async def deliver(self, via: Via, to: Addressed, message: Message) -> Attempt:
        """Published on the environment's kept client; the attempt keeps no status: ``body``
        says what the broker acknowledged with, ``error`` why it did not."""
        sealed = to.destination_sealed
        if sealed is None:
            return Attempt(error=f"{self.name} endpoint without its destination")
        headers = {
            name.lower(): value
            for name, value in message.headers.items()
            if name.lower() not in _HTTP_ONLY
        }
        try:
            config = via.opened(to.endpoint_id, self.name, sealed)
            published = await via.clients.publish(
                self, sealed, config, Message(message.id, message.body, headers), via.seconds
            )
        except DestinationError as exc:
            return Attempt(error=str(exc), final=exc.final)
        return Attempt(acked=True, body=f"acknowledged: {published.ack}"[:500])

    def shown(self, config: BaseModel) -> dict[str, Any]:
        """The destination object as reads show it: the URL's password and every secret field
        masked."""
        data: dict[str, Any] = json.loads(config.model_dump_json())
        if isinstance(data.get("url"), str):
            data["url"] = masked_url(data["url"])
        for name in self.secrets:
            if data.get(name) is not None:
                data[name] = MASK
        return data


def address_of(url: str, schemes: dict[str, int]) -> tuple[SplitResult, str, int]:
    """The broker URL's parts, host and port; ``ValueError`` saying why one is not a broker's
    address of this type."""
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise ValueError("url contains whitespace or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise ValueError(f"url must start with {' or '.join(f'{s}://' for s in schemes)}")
    if parts.query or parts.fragment or url.rstrip("/").endswith(("?", "#")):
        # A client reads its options from the query (redis-py, aiormq): certificate checks
        # turned off, files of the worker's machine read as certificates and keys.
        raise ValueError("url takes no query or fragment: the destination's fields say the rest")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError("url has no host")
    try:
        port = parts.port
    except ValueError:  # never quoted: a password holding "/" or "?" reads as the port
        port = 0
    if port == 0:
        raise ValueError("url port must be a number from 1 to 65535")
    return parts, host, port or schemes[scheme]


def at_address(parts: SplitResult, address: str, port: int) -> str:
    """The URL with its host replaced by a checked ``address``, so the client connects only to
    an address the check allowed (nothing re-resolves the name between them)."""
    host = f"[{address}]" if ":" in address else address
    auth, _, _ = parts.netloc.rpartition("@")
    netloc = f"{auth}@{host}:{port}" if auth else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def scrubbed(text: str, kind: Broker, config: BaseModel) -> str:
    """``text`` (a client's error) with every secret of the destination masked: each of its
    URLs' passwords, as written or decoded, and each secret field, whichever a client quotes."""
    found: set[str] = set()
    for name, value in config:
        if not isinstance(value, str) or not value:
            continue
        if name in kind.secrets:
            found.add(value)
            continue
        try:
            password = urlsplit(value).password
        except ValueError:
            continue
        if password:
            found.update({password, unquote(password)})
    for secret in sorted(found, key=len, reverse=True):  # a longer one before its parts
        text = text.replace(secret, MASK)
    return text


def masked_url(url: str) -> str:
    """``url`` with its password, if any, as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    auth, _, host = parts.netloc.rpartition("@")
    user = auth.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
