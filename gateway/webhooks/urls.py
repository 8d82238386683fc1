"""Which webhook URLs and addresses the gateway will send to.

The same rules run twice: when an endpoint is saved (so a merchant hears about a bad URL at once)
and at the moment the worker connects, against the very address it connects to (so a name that
re-resolves to a private address later, DNS rebinding, still cannot reach inside).
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "Address",
    "UrlRefused",
    "check_address",
    "numeric_host",
    "parse_webhook_url",
    "resolve_checked",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAX_URL = 2048


class UrlRefused(ValueError):
    """A URL or address webhooks may not go to; the message says why, for the merchant."""


@dataclass(frozen=True, slots=True)
class WebhookUrl:
    url: str
    scheme: str
    host: str
    port: int


def parse_webhook_url(url: str) -> WebhookUrl:
    """Absolute http(s) with a host, no credentials; the shape check, without DNS."""
    if len(url) > _MAX_URL:
        raise UrlRefused(f"URL longer than {_MAX_URL} characters")
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise UrlRefused("URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("URL cannot be parsed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("URL must be absolute http or https")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("URL must not carry credentials")
    return WebhookUrl(url, scheme, host, port or (443 if scheme == "https" else 80))


def numeric_host(host: str) -> Address | None:
    """The address a host names literally, including the forms resolvers accept beside the
    dotted quad (``2130706433``, ``0177.0.0.1``, ``0x7f.1``) and IPv4-mapped IPv6."""
    try:
        found: Address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        try:
            packed = socket.inet_aton(host)
        except (OSError, ValueError):
            return None
        found = ipaddress.IPv4Address(packed)
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def check_address(address: Address, *, allow_loopback: bool) -> None:
    """Refuse every address that is not plainly on the public internet."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            check_address(mapped, allow_loopback=allow_loopback)
            return
    if address.is_loopback:
        if allow_loopback:
            return
        raise UrlRefused("URL resolves to a loopback address")
    if address.is_unspecified:
        raise UrlRefused("URL resolves to an unspecified address")
    if address.is_link_local:
        # 169.254.169.254 and friends: the cloud metadata services live here.
        raise UrlRefused("URL resolves to a link-local or metadata address")
    if address.is_multicast:
        raise UrlRefused("URL resolves to a multicast address")
    if address.is_private or not address.is_global:
        raise UrlRefused("URL resolves to a private or reserved address")


async def resolve_checked(host: str, port: int, *, allow_loopback: bool) -> list[Address]:
    """Every address ``host`` resolves to, all checked; refused if any one is not allowed, so a
    name with one public and one private record cannot be used to reach the private one."""
    literal = numeric_host(host)
    if literal is not None:
        check_address(literal, allow_loopback=allow_loopback)
        return [literal]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError):
        raise UrlRefused("URL host does not resolve") from None
    found: list[Address] = []
    for *_, sockaddr in infos:
        address = numeric_host(str(sockaddr[0]).partition("%")[0])
        if address is None:
            raise UrlRefused("URL host resolves to an unusable address")
        check_address(address, allow_loopback=allow_loopback)
        if address not in found:
            found.append(address)
    if not found:
        raise UrlRefused("URL host does not resolve")
    return found
