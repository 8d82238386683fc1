"""Destinations' clients: each opened to an address the webhook URL check allows, at the moment
of opening, and kept for the destination's next deliveries; one that failed is closed, and the
next delivery opens a fresh one. A publish is bounded by the delivery's timeout, from opening the
client to the broker's acknowledgement. The check when an endpoint is saved (``probe``) opens,
checks and closes a client of its own."""

import asyncio
import time
from typing import Any

from ..urls import UrlRefused, resolve_checked
from .base import (
    Broker,
    DestinationError,
    Message,
    Published,
    Reach,
    address_of,
    at_address,
    named,
    scrubbed,
)

__all__ = ["UNREACHABLE", "Clients", "probe"]

# Schemes whose connection is TLS: the certificate is verified against the host's name, while
# the client connects to the address judged (``base.Reach``).
_TLS = frozenset({"amqps", "rediss", "tls", "https"})
# What any failure to connect says, whatever it was: a port refused or filtered, something else
# listening, a certificate or a password refused all read alike, so an attempt's error tells
# nothing of what listens at a host and port (no port oracle).
UNREACHABLE = "connect failed: refused or unreachable"
MAX_CLIENTS = 1_000
# A client no delivery used for this long is closed when the next one is opened: an endpoint
# edited (sealed anew) or deleted leaves its old client behind, and a broker's connection held
# open for nothing is one of its limited few.
IDLE_SECONDS = 300.0


async def _opened(kind: Broker, config: Any, *, allow_loopback: bool, seconds: float) -> Any:
    """A client of ``config``'s broker, connected only to a checked address."""
    address = kind.address(config)
    try:
        parts, host, port = address_of(address, kind.schemes)
    except ValueError as exc:
        raise DestinationError(f"url refused: {exc}", final=True) from None
    try:
        async with asyncio.timeout(seconds):  # a resolver that hangs holds nothing past it
            addresses = await resolve_checked(host, port, allow_loopback=allow_loopback)
    except UrlRefused as exc:
        raise DestinationError(f"blocked: {exc}", data=exc.data()) from None
    except TimeoutError:
        raise DestinationError(f"timeout: {host} not resolved within {seconds:g}s") from None
    reach = Reach(
        url=at_address(parts, str(addresses[0]), port),
        by_name=address,
        name=host,
        tls=named(host) if parts.scheme.lower() in _TLS else None,
        allow_loopback=allow_loopback,
    )
    try:
        async with asyncio.timeout(seconds):
            return await kind.open(config, reach)
    except DestinationError:
        raise
    except Exception:
        raise DestinationError(UNREACHABLE) from None


def _said(exc: BaseException, kind: Broker, config: Any) -> str:
    """What the client said went wrong, on one line, never a secret of the destination."""
    said = (str(exc) or type(exc).__name__).replace("\n", " ")
    return scrubbed(said, kind, config)


async def probe(kind: Broker, config: Any, *, allow_loopback: bool, seconds: float) -> None:
    """The check when a destination is saved: connected, and its exchange, stream or subject
    there to take a message (``Broker.probe``); ``DestinationError`` saying why not."""
    client = await _opened(kind, config, allow_loopback=allow_loopback, seconds=seconds)
    try:
        async with asyncio.timeout(seconds):
            await kind.probe(client, config)
    except TimeoutError as exc:
        if kind.unreachable(exc):  # a client connecting only now
            raise DestinationError(UNREACHABLE) from None
        raise DestinationError(f"timeout: no answer within {seconds:g}s") from None
    except DestinationError:
        raise
    except Exception as exc:
        if kind.unreachable(exc):
            raise DestinationError(UNREACHABLE) from None
        raise DestinationError(f"refused: {_said(exc, kind, config)}") from None
    finally:
        await _closed(kind, client)  # it was only opened to check


async def _closed(kind: Broker, client: Any) -> None:
    """``client`` closed, whatever its close raises: a client that failed may fail to close
    too, and one whose connection the broker ended may fail it with a cancellation of its own
    (aiormq's); only a cancel of this task goes on."""
    try:
        await kind.close(client)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
    except Exception:  # noqa: S110 -- what is closed is forgotten either way
        pass


class Clients:
    """One environment's kept clients, by destination type and sealed destination (an edit
    seals anew, so the edited destination gets a client of its own)."""

    def __init__(self, *, allow_loopback: bool, idle_seconds: float = IDLE_SECONDS) -> None:
        self._allow_loopback = allow_loopback
        self._idle_seconds = idle_seconds
        self._kept: dict[tuple[str, str], tuple[Broker, Any]] = {}
        self._used: dict[tuple[str, str], float] = {}
        self._opening: dict[tuple[str, str], asyncio.Lock] = {}

    def __len__(self) -> int:
        return len(self._kept)

    async def publish(
        self, kind: Broker, key: str, config: Any, message: Message, seconds: float
    ) -> Published:
        """``message`` published on the destination's kept client (opened first if none is),
        within ``seconds``; ``DestinationError`` if it was not acknowledged."""
        slot = (kind.name, key)
        started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + seconds
        try:
            async with asyncio.timeout_at(deadline):
                client = await self._client(kind, slot, config, seconds)
        except TimeoutError:
            raise DestinationError(UNREACHABLE) from None
        try:
            async with asyncio.timeout_at(deadline):
                ack = await kind.publish(client, config, message)
        except TimeoutError:
            await self._drop(slot, client)
            raise DestinationError(f"timeout: no acknowledgement within {seconds:g}s") from None
        except DestinationError:
            await self._drop(slot, client)
            raise
        except Exception as exc:
            await self._drop(slot, client)
            if kind.unreachable(exc):  # a kept client's new connection, as its first
                raise DestinationError(UNREACHABLE) from None
            final = not kind.retryable(exc)
            said = _said(exc, kind, config)
            raise DestinationError(f"not acknowledged: {said}", final=final) from None
        return Published(ack, time.perf_counter() - started)

    async def _client(
        self, kind: Broker, slot: tuple[str, str], config: Any, seconds: float
    ) -> Any:
        now = time.monotonic()
        kept = self._kept.get(slot)
        if kept is not None:
            self._used[slot] = now
            return kept[1]
        lock = self._opening.setdefault(slot, asyncio.Lock())
        async with lock:  # deliveries to one destination open one client between them
            kept = self._kept.get(slot)
            if kept is not None:
                self._used[slot] = now
                return kept[1]
            await self._close_idle(now)
            client = await _opened(
                kind, config, allow_loopback=self._allow_loopback, seconds=seconds
            )
            if len(self._kept) >= MAX_CLIENTS:
                oldest, (_, old) = next(iter(self._kept.items()))
                await self._drop(oldest, old)
            self._kept[slot] = (kind, client)
            self._used[slot] = now
        self._opening.pop(slot, None)  # its waiters hold it; a later delivery finds the client
        return client

    async def _drop(self, slot: tuple[str, str], client: Any) -> None:
        """Forget and close ``client``, if it is still the one kept: the next delivery opens a
        fresh one, after the broker came back or the network recovered."""
        kept = self._kept.get(slot)
        if kept is None or kept[1] is not client:
            return
        del self._kept[slot]
        self._used.pop(slot, None)
        await _closed(kept[0], client)

    async def _close_idle(self, now: float) -> None:
        idle = [
            (slot, kept[1])
            for slot, kept in self._kept.items()
            if now - self._used.get(slot, now) > self._idle_seconds
        ]
        for slot, client in idle:
            await self._drop(slot, client)

    async def aclose(self) -> None:
        for slot, (_, client) in list(self._kept.items()):
            await self._drop(slot, client)
