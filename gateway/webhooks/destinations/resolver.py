"""aiohttp's resolver for a broker's client that resolves names itself (aiobotocore's,
gcloud-aio's): given to it by aiohttp's documented ``TCPConnector(resolver=...)``, so every
connection it opens goes only to an address the webhook URL check allowed, judged then
(``base.Reach``). Loaded only by a worker with such an endpoint."""

import socket

from aiohttp.abc import AbstractResolver, ResolveResult

from ..urls import UrlRefused, resolve_checked

__all__ = ["Judged"]


class Judged(AbstractResolver):
    """aiohttp's resolver answering only judged addresses: every address a name resolves to is
    judged (``resolve_checked``) when a connection is opened, and one not allowed fails it."""

    def __init__(self, *, allow_loopback: bool) -> None:
        self._allow_loopback = allow_loopback

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            found = await resolve_checked(host, port, allow_loopback=self._allow_loopback)
        except UrlRefused as exc:
            raise OSError(str(exc)) from None
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in found
        ]

    async def close(self) -> None:
        return None
