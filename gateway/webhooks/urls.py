"""Which webhook URLs and addresses the gateway will send to.

The same rules run twice: when an endpoint is saved (so a merchant hears about a bad URL at once)
and at the moment the worker connects, against the very address it connects to (so a name that
re-resolves to a private address later, DNS rebinding, still cannot reach inside). Both go
through ``resolve_checked``, and every address, however it was spelled or resolved, is judged by
one function, ``check_address``.

The judgement is an allow-list: an address passes only if it is plainly on the public internet.
A URL whose host is an address is refused naming it and the kind of address it is (loopback,
private, link-local, cloud metadata, ...), so a merchant can tell a typo from a firewall rule.
A host name is refused with one sentence that lists the kinds refused but not which one its
records are, nor whether it resolved at all: what the gateway's resolver answers for internal
names is no merchant's to map. The same words go to the API's ``data``, the dashboard's forms
and the worker's attempt log.

One URL is judged otherwise: a staging endpoint pointing at its merchant's test inbox on this
gateway (``is_own_inbox``: the exact origin of ``AITOPUP_PUBLIC_BASE_URL`` and an inbox path).
That address is the operator's own, set in the gateway's configuration, not a merchant's pick,
so it is neither resolved nor judged when saved, and at connect time it is reached wherever it
resolves (loopback under ``make run``, a private load balancer in a cluster). Only that path is:
any other URL on the same origin is judged as every URL is, and a connection opened for the inbox
is never reused for anything else.
"""

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ..values.urls import split_url

__all__ = [
    "INBOX_PATH",
    "INBOX_TOKEN",
    "NAME_REFUSED",
    "Address",
    "Resolver",
    "UrlRefused",
    "check_address",
    "check_port",
    "check_return_url",
    "check_url",
    "inbox_token_of",
    "inbox_url",
    "is_own_inbox",
    "masked",
    "numeric_host",
    "origin_of",
    "parse_webhook_url",
    "resolve_checked",
    "resolve_own",
    "system_resolver",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# A host and port to the addresses they resolve to, as text (getaddrinfo's answer).
Resolver = Callable[[str, int], Awaitable[list[str]]]

_MAX_URL = 2048

# Where a staging merchant's test inbox receives, under the gateway's public base URL; the token
# is ``secrets.token_urlsafe(32)``'s 43 characters.
INBOX_PATH = "/api/public/v1/webhooks/inbox/"
# A poller's read (``webhooks.pollers``), the one route a poller's own key is taken at.
POLLERS_PATH = "/api/public/v1/webhooks/pollers/"
INBOX_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


# A name's refusal, whatever its records were or whether there were any.
NAME_REFUSED = (
    "URL host must resolve to public internet addresses only: a name that does not resolve, or"
    " whose records include a loopback, private, link-local, carrier-grade NAT, cloud metadata,"
    " multicast, documentation or reserved address, is refused"
)

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# What ``is_global`` calls global but no public host lives at (Python 3.11's list; later
# releases add some of these, which changes nothing here): multicast, the rest of the IETF's
# protocol block, and the deprecated 6to4 relay anycast.
_V4_REFUSED = (_V4("224.0.0.0/4"), _V4("192.0.0.0/24"), _V4("192.88.99.0/24"))

# IPv6 hosts on the public internet are all in global unicast space; everything outside it is
# refused without asking further: loopback, unspecified, IPv4-compatible (::/96) and SIIT
# (::ffff:0:0:0/96) forms, local-use NAT64 (64:ff9b:1::/48), discard-only, SRv6, unique local,
# link-local, deprecated site-local (fec0::/10), multicast.
_V6_UNICAST = _V6("2000::/3")
# Inside it, what is no host's address on the public internet: the IETF's protocol block, with
# Teredo (2001::/32, which carries an IPv4 address), benchmarking and ORCHIDs; documentation;
# 6to4 (2002::/16, which carries one too).
_V6_REFUSED = (_V6("2001::/23"), _V6("2001:db8::/32"), _V6("2002::/16"), _V6("3fff::/20"))
# RFC 6052's well-known NAT64 prefix: the last 32 bits are the IPv4 address a translator
# connects to, so that address is what is judged.
_NAT64 = _V6("64:ff9b::/96")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")
# Where clouds answer for the instance's credentials: named as such, whatever range holds them.
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_CGNAT = _V4("100.64.0.0/10")
_PRIVATE_V4 = (_V4("10.0.0.0/8"), _V4("172.16.0.0/12"), _V4("192.168.0.0/16"))
_DOCUMENTATION = (
    _V4("192.0.2.0/24"),
    _V4("198.51.100.0/24"),
    _V4("203.0.113.0/24"),
    _V6("2001:db8::/32"),
    _V6("3fff::/20"),
)


class UrlRefused(ValueError):
    """A URL or address webhooks may not go to; the message says why, for the merchant. A
    refusal of an address also carries it and its kind (``address``, ``reason``)."""

    def __init__(
        self, message: str, *, address: str | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.address = address
        self.reason = reason

    def data(self) -> dict[str, str] | None:
        """What an API refusal's ``data`` carries: the address judged and its kind."""
        if self.address is None or self.reason is None:
            return None
        return {"address": self.address, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class WebhookUrl:
    url: str
    scheme: str
    host: str
    port: int


_PORT_REFUSED = "URL port must be a number from 1 to 65535"


def check_port(port: int | None) -> None:
    """A port a URL names, if it names one: 1 to 65535 (0 is no port to connect to)."""
    if port is not None and not 0 < port <= 65535:
        raise UrlRefused(_PORT_REFUSED)


def parse_webhook_url(url: str, *, api_root: bool = False) -> WebhookUrl:
    """Absolute http(s) with a host and a valid port, no credentials; the shape check, without
    DNS. ``api_root`` (an upstream's, to which each call's path is appended): no query string
    and no fragment either, so no credential rides in the query of a URL shown back as set. A
    webhook URL may have a query (some receivers take a token there): it is shown ``masked``."""
    if len(url) > _MAX_URL:
        raise UrlRefused(f"URL longer than {_MAX_URL} characters")
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise UrlRefused("URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise UrlRefused("URL cannot be parsed") from None
    try:
        port = parts.port
    except ValueError:
        raise UrlRefused(_PORT_REFUSED) from None
    try:
        split_url(url)  # what the checks pass, the sender's parser must read too
    except ValueError:
        raise UrlRefused("URL cannot be parsed") from None
    check_port(port)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("URL must be absolute http or https")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("URL must not carry credentials")
    if api_root and (parts.query or parts.fragment or url.endswith(("?", "#"))):
        raise UrlRefused("URL must not carry a query string or fragment (credentials go apart)")
    return WebhookUrl(url, scheme, host, port or (443 if scheme == "https" else 80))


def masked(url: str) -> str:
    """``url`` as shown where a credential must not be read: every query value (a receiver's
    token, a key) as ``***``, the names and the rest as they are."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.query:
        return url
    pairs = (part.partition("=") for part in parts.query.split("&"))
    query = "&".join(f"{name}=***" if sep else name for name, sep, _ in pairs)
    return urlunsplit(parts._replace(query=query))


def numeric_host(host: str) -> Address | None:
    """The address a host names literally, bracketed or not, including the forms resolvers
    accept beside the dotted quad (``2130706433``, ``0177.0.0.1``, ``0x7f.1``); ``None`` for a
    name. IPv4-mapped IPv6 is the IPv4 address itself, and is connected to as such."""
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


def _v4_kind(address: ipaddress.IPv4Address) -> str | None:
    """Why an IPv4 address is no public host's, or ``None`` if it is one."""
    if address.is_global and not any(address in net for net in _V4_REFUSED):
        return None
    if address in _METADATA:
        return "cloud metadata"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified or address in _V4("0.0.0.0/8"):
        return "unspecified (this host or network)"
    if address.is_multicast:
        return "multicast"
    if address == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast"
    if address in _CGNAT:
        return "carrier-grade NAT"
    if any(address in net for net in _PRIVATE_V4):
        return "private"
    if any(address in net for net in _DOCUMENTATION):
        return "documentation"
    return "reserved"


def _carried(form: str, inner: ipaddress.IPv4Address) -> str | None:
    kind = _v4_kind(inner)
    return None if kind is None else f"{form} around {inner}, {kind}"


def _isatap_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an ISATAP interface identifier (``…:0:5efe:a.b.c.d``, with the
    universal/group bits in either state) carries; it can follow any prefix, global ones too."""
    value = int(address)
    if (value >> 32) & 0xFCFFFFFF == 0x5EFE:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def _v6_kind(address: ipaddress.IPv6Address) -> str | None:
    """Why an IPv6 address is no public host's (loopback counted as such), or ``None``."""
    if address.scope_id is not None:
        return "link-local (scoped to a local interface)"
    if address in _METADATA:
        return "cloud metadata"
    if address == _LOOPBACK_V6:
        return "loopback"
    if address.is_unspecified:
        return "unspecified (this host)"
    if address.is_link_local:
        return "link-local"
    if address.is_site_local:
        return "site-local (deprecated)"
    if address.is_multicast:
        return "multicast"
    if address in _V6("fc00::/7"):
        return "private (unique local)"
    if address not in _V6_UNICAST:
        return "not global unicast"
    if address in _V6("2002::/16"):
        return "6to4"
    if address in _V6("2001::/32"):
        return "Teredo"
    if any(address in net for net in _DOCUMENTATION):
        return "documentation"
    if any(address in net for net in _V6_REFUSED) or not address.is_global:
        return "reserved"
    isatap = _isatap_v4(address)
    return None if isatap is None else _carried("ISATAP", isatap)


def _refusal(address: Address, *, allow_loopback: bool) -> str | None:
    """The one decision on an address, wherever it was found: the kind of address it is if it
    is refused, ``None`` if it is plainly on the public internet. IPv6 forms that carry an IPv4
    address are judged by it: IPv4-mapped (the very host) and the NAT64 well-known prefix (a
    translator connects to it); the other forms (IPv4-compatible, SIIT, local-use NAT64, 6to4,
    Teredo) lie outside the space allowed whatever they carry, and an ISATAP identifier's IPv4
    address must be public too. ``allow_loopback`` (staging, by setting) lets this host's
    loopback through, and nothing else."""
    if isinstance(address, ipaddress.IPv4Address):
        kind = _v4_kind(address)
        return None if kind == "loopback" and allow_loopback else kind
    mapped = address.ipv4_mapped
    if mapped is not None:  # ::ffff:a.b.c.d is a.b.c.d itself, loopback included
        return _refusal(mapped, allow_loopback=allow_loopback)
    if address in _NAT64:  # reached through a translator: never this host's loopback
        return _carried("NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    kind = _v6_kind(address)
    return None if kind == "loopback" and allow_loopback else kind


def check_address(address: Address, *, allow_loopback: bool) -> None:
    """Refused (``UrlRefused``, naming the address and why) unless ``_refusal`` lets it pass."""
    kind = _refusal(address, allow_loopback=allow_loopback)
    if kind is not None:
        raise UrlRefused(
            f"URL host resolves to {address}, which is {kind}: only public internet addresses"
            " are allowed",
            address=str(address),
            reason=kind,
        )


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer for ``host``, as the worker's connect would get it."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(sockaddr[0]) for *_, sockaddr in infos]


async def resolve_checked(
    host: str, port: int, *, allow_loopback: bool, resolver: Resolver | None = None
) -> list[Address]:
    """Every address ``host`` resolves to, all checked; refused if any one is not allowed, so a
    name with one public and one private record cannot be used to reach the private one. An
    address as host is refused naming it; a name with ``NAME_REFUSED`` alone, resolved or not.
    ``resolver`` stands in for the system's."""
    literal = numeric_host(host)
    if literal is not None:
        check_address(literal, allow_loopback=allow_loopback)
        return [literal]
    try:
        answers = await (resolver or system_resolver)(host, port)
    except (OSError, UnicodeError, ValueError):
        raise UrlRefused(NAME_REFUSED) from None
    found: list[Address] = []
    for text in answers:
        address = numeric_host(text.partition("%")[0])
        try:
            if address is None:
                raise UrlRefused(NAME_REFUSED)
            check_address(address, allow_loopback=allow_loopback)
        except UrlRefused:
            raise UrlRefused(NAME_REFUSED) from None
        if address not in found:
            found.append(address)
    if not found:
        raise UrlRefused(NAME_REFUSED)
    return found


async def resolve_own(host: str, port: int, *, resolver: Resolver | None = None) -> list[Address]:
    """The addresses of the gateway's own public origin, unjudged: only for a URL that
    ``is_own_inbox`` passed, which the operator's configuration names, never a merchant."""
    literal = numeric_host(host)
    if literal is not None:
        return [literal]
    try:
        answers = await (resolver or system_resolver)(host, port)
    except (OSError, UnicodeError, ValueError):
        raise UrlRefused(NAME_REFUSED) from None
    found = [a for a in (numeric_host(t.partition("%")[0]) for t in answers) if a is not None]
    if not found:
        raise UrlRefused(NAME_REFUSED)
    return found


def inbox_url(public_base: str, token: str) -> str:
    """The test inbox's URL under the gateway's public base (``mail.links.public_base``)."""
    return f"{public_base.rstrip('/')}{INBOX_PATH}{token}"


def inbox_token_of(url: str, public_base: str | None = None) -> str | None:
    """The inbox token ``url`` points at, or ``None``: the path is the base's own path and an
    inbox path, nothing after it, and no query or fragment. With ``public_base``, its origin must
    also be exactly the base's."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return None
    if public_base is not None:
        own = origin_of(public_base)
        if own is None or origin_of(url) != own:
            return None
        prefix = urlsplit(public_base).path.rstrip("/") + INBOX_PATH
        if not parts.path.startswith(prefix):
            return None
        token = parts.path[len(prefix) :]
    else:
        _, found, token = parts.path.rpartition(INBOX_PATH)
        if not found:
            return None
    return token if INBOX_TOKEN.fullmatch(token) else None


def is_own_inbox(url: str, public_base: str | None) -> bool:
    """Whether ``url`` is a test inbox on this gateway: exactly the origin of ``public_base``
    (the operator's configured address) and an inbox path under it."""
    return public_base is not None and inbox_token_of(url, public_base) is not None


async def check_url(
    url: str,
    *,
    allow_loopback: bool,
    resolver: Resolver | None = None,
    api_root: bool = False,
    own_inbox_base: str | None = None,
) -> WebhookUrl:
    """The check when a URL is saved (a webhook endpoint's, a fulfilment upstream's with
    ``api_root``): its shape, then every address its host resolves to. ``own_inbox_base``
    (staging endpoints: the gateway's public base URL): a test inbox on it passes unresolved."""
    parsed = parse_webhook_url(url, api_root=api_root)
    if is_own_inbox(url, own_inbox_base):
        return parsed
    await resolve_checked(
        parsed.host, parsed.port, allow_loopback=allow_loopback, resolver=resolver
    )
    return parsed


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower-cased, the default port
    left out; ``None`` if it is not one."""
    try:
        parsed = parse_webhook_url(url)
    except UrlRefused:
        return None
    default = 443 if parsed.scheme == "https" else 80
    port = "" if parsed.port == default else f":{parsed.port}"
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{parsed.scheme}://{host.lower()}{port}"


def check_return_url(url: str, *, allow_loopback: bool, own_origins: frozenset[str]) -> None:
    """A URL the gateway sends a payer's browser to (a checkout's success or cancel URL):
    on one of ``own_origins`` (the gateway's own), or https to a host that is not, as spelled,
    inside a network: an address is judged as a webhook's is (loopback, private, link-local,
    cloud metadata, ... refused), and ``localhost`` is loopback. ``allow_loopback`` (staging,
    by setting) lets this host's loopback through, over http too. A name is not resolved: the
    payer's browser resolves it, in its own network, never the gateway."""
    parsed = parse_webhook_url(url)
    if origin_of(url) in own_origins:
        return
    host = parsed.host.lower()
    literal = numeric_host(host)
    if literal is not None:
        check_address(literal, allow_loopback=allow_loopback)
        loopback = _refusal(literal, allow_loopback=False) == "loopback"
    else:
        loopback = host == "localhost" or host.endswith(".localhost")
        if loopback and not allow_loopback:
            raise UrlRefused(
                "URL host is loopback (localhost): only public internet hosts are allowed",
                address=host,
                reason="loopback",
            )
    if parsed.scheme != "https" and not (loopback and allow_loopback):
        raise UrlRefused("URL must be https")
