"""The address check judges the address, not its spelling: every IPv6 form that carries an IPv4
address, every way of writing an IPv4 address, bracketed literals, and names whose records point
inside, through a resolver stood in for the system's. Every refusal names the address judged and
the kind of address it is."""

import ipaddress
import socket

import httpx
import pytest

from gateway.webhooks import urls
from gateway.webhooks.urls import (
    UrlRefused,
    check_address,
    numeric_host,
    parse_webhook_url,
    resolve_checked,
)
from tests.fixtures.merchants import MakeMerchant

# (address, what it is). Refused in live, whatever ipaddress.is_global says of it.
REFUSED_ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("127.45.6.7", "loopback, not .1"),
    ("10.1.2.3", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "cloud metadata"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("0.0.0.0", "unspecified: this host"),
    ("0.1.2.3", "this network"),
    ("255.255.255.255", "broadcast"),
    ("224.0.0.251", "multicast, which is_global passes"),
    ("239.255.255.250", "multicast"),
    ("192.0.0.8", "IETF protocol block, which is_global passes"),
    ("192.0.0.170", "NAT64 discovery"),
    ("192.88.99.1", "6to4 relay anycast, which is_global passes"),
    ("198.18.0.1", "benchmarking"),
    ("192.0.2.1", "documentation"),
    ("240.0.0.1", "reserved"),
    ("::1", "IPv6 loopback"),
    ("::", "IPv6 unspecified"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::127.0.0.1", "IPv4-compatible loopback"),
    ("::10.0.0.1", "IPv4-compatible private"),
    ("::93.184.215.14", "IPv4-compatible, deprecated, even around a public address"),
    ("::ffff:0:127.0.0.1", "SIIT (IPv4-translated) loopback"),
    ("::ffff:0:169.254.169.254", "SIIT metadata"),
    ("64:ff9b::127.0.0.1", "NAT64 well-known prefix around loopback"),
    ("64:ff9b::169.254.169.254", "NAT64 well-known prefix around metadata"),
    ("64:ff9b::10.0.0.1", "NAT64 well-known prefix around a private address"),
    ("64:ff9b::100.64.0.1", "NAT64 well-known prefix around carrier-grade NAT"),
    ("64:ff9b:1::a00:1", "local-use NAT64 (RFC 8215)"),
    ("64:ff9b:1:7f00:0:100::", "local-use NAT64, /48 layout around 127.0.0.1"),
    ("64:ff9b:1::5db8:d70e", "local-use NAT64 around a public address"),
    ("2002:7f00:1::", "6to4 around loopback"),
    ("2002:a9fe:a9fe::1", "6to4 around metadata"),
    ("2002:5db8:d70e::1", "6to4 around a public address: 6to4 is not globally reachable"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("2001:0:a00:1::", "Teredo with a private server"),
    ("2606:4700::5efe:a00:1", "ISATAP identifier around a private address"),
    ("2606:4700::200:5efe:7f00:1", "ISATAP identifier (u bit) around loopback"),
    ("fec0::1", "deprecated site-local, which is_global passes"),
    ("fc00::1", "unique local"),
    ("fd00:ec2::254", "unique local: AWS's metadata over IPv6"),
    ("fe80::1", "link-local"),
    ("fe80::a9fe:a9fe%eth0", "link-local with a zone"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "global-scope multicast"),
    ("100::1", "discard-only"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation (RFC 9637), which is_global passes"),
    ("5f00::1", "SRv6 SIDs, which is_global passes"),
    ("2001:20::1", "ORCHIDv2"),
    ("2001:2::1", "benchmarking"),
]

ALLOWED_ADDRESSES = [
    "93.184.215.14",
    "8.8.8.8",
    "1.1.1.1",
    "::ffff:93.184.215.14",  # the public IPv4 address itself
    "64:ff9b::93.184.215.14",  # a translator's way to a public IPv4 address
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "2606:4700::5efe:5db8:d70e",  # an ISATAP identifier around a public address
]


def test_the_table_is_large_and_names_every_transition_form() -> None:
    assert len(REFUSED_ADDRESSES) >= 30
    names = " ".join(what for _, what in REFUSED_ADDRESSES)
    for form in ("IPv4-mapped", "IPv4-compatible", "SIIT", "NAT64", "local-use", "6to4"):
        assert form in names
    for form in ("Teredo", "ISATAP", "site-local"):
        assert form in names


@pytest.mark.parametrize(("address", "what"), REFUSED_ADDRESSES)
def test_every_form_is_refused_in_live(address: str, what: str) -> None:
    judged = ipaddress.ip_address(address)
    with pytest.raises(UrlRefused) as refused:
        check_address(judged, allow_loopback=False)
    assert refused.value.address == str(judged), what
    assert refused.value.reason, what
    assert str(refused.value) == (
        f"URL host resolves to {judged}, which is {refused.value.reason}:"
        " only public internet addresses are allowed"
    )


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.45.6.7", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified (this host or network)"),
        ("224.0.0.251", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("192.0.2.1", "documentation"),
        ("192.0.0.8", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified (this host)"),
        ("::ffff:10.0.0.1", "private"),
        ("::127.0.0.1", "not global unicast"),
        ("64:ff9b::127.0.0.1", "NAT64 around 127.0.0.1, loopback"),
        ("2002:7f00:1::", "6to4"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("2606:4700::5efe:a00:1", "ISATAP around 10.0.0.1, private"),
        ("fec0::1", "site-local (deprecated)"),
        ("fd00::1", "private (unique local)"),
        ("fd00:ec2::254", "cloud metadata"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local (scoped to a local interface)"),
        ("ff0e::1", "multicast"),
        ("2001:db8::1", "documentation"),
    ],
)
def test_a_refusal_says_what_kind_of_address_it_met(address: str, reason: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        check_address(ipaddress.ip_address(address), allow_loopback=False)
    assert refused.value.reason == reason
    assert f"which is {reason}:" in str(refused.value)


@pytest.mark.parametrize("address", ALLOWED_ADDRESSES)
def test_public_addresses_pass(address: str) -> None:
    check_address(ipaddress.ip_address(address), allow_loopback=False)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "127.45.6.7", "::1", "::ffff:127.0.0.1", "93.184.215.14"]
)
def test_staging_may_reach_loopback(address: str) -> None:
    check_address(ipaddress.ip_address(address), allow_loopback=True)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "::",
        "::127.0.0.1",  # IPv4-compatible: not this host's loopback
        "::ffff:0:127.0.0.1",  # SIIT: a translator's, not this host's
        "64:ff9b::127.0.0.1",  # NAT64: the translator's loopback
        "2002:7f00:1::",
        "fe80::1",
        "fd00::1",
    ],
)
def test_staging_may_reach_loopback_only(address: str) -> None:
    with pytest.raises(UrlRefused, match="only public internet addresses are allowed"):
        check_address(ipaddress.ip_address(address), allow_loopback=True)


async def _no_resolver(host: str, port: int) -> list[str]:
    raise AssertionError(f"a literal address was resolved: {host}")


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/hook",  # 127.0.0.1 as one decimal number
        "http://3232235777/hook",  # 192.168.1.1 as one decimal number
        "http://017700000001/hook",  # one octal number
        "http://0x7f.0.0.1/hook",  # hex parts
        "http://0x7f000001/hook",  # one hex number
        "http://127.1/hook",  # short form
        "http://0xa9.0xfe.0xa9.0xfe/hook",  # metadata in hex
        "http://169.254.43518/hook",  # metadata, last two parts as one number
        "http://0/hook",  # 0.0.0.0
        "http://[::1]:8080/hook",
        "http://[0:0:0:0:0:0:0:1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:7f00:1]/hook",  # mapped, in hex
        "http://[0:0:0:0:0:ffff:a9fe:a9fe]/hook",
        "http://[::127.0.0.1]/hook",
        "http://[::ffff:0:7f00:1]/hook",
        "http://[64:ff9b::7f00:1]/hook",
        "http://[64:ff9b::a9fe:a9fe]/hook",
        "http://[2002:7f00:1::1]/hook",
        "http://[fec0::1]/hook",
        "http://[FE80::1%25eth0]/hook",  # a zone, percent-encoded, upper case
        "https://[fd00::1]:443/hook",
    ],
)
async def test_literal_hosts_in_every_spelling_are_refused(url: str) -> None:
    parsed = parse_webhook_url(url)
    with pytest.raises(UrlRefused) as refused:
        await resolve_checked(parsed.host, parsed.port, allow_loopback=False, resolver=_no_resolver)
    # The address as it is connected to, not as it was spelled.
    assert refused.value.address == str(numeric_host(parsed.host))


def test_a_spelling_the_sender_cannot_read_is_refused_before_any_lookup() -> None:
    # 127.0.0.1 in octal parts: the connecting client's parser refuses it, so it is refused as
    # written, never resolved nor connected to.
    with pytest.raises(UrlRefused, match="cannot be parsed"):
        parse_webhook_url("http://0177.0.0.1/hook")


def _records(table: dict[str, list[str]]) -> urls.Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


DNS = {
    "internal.example": ["10.0.0.5"],
    "mixed.example": ["93.184.215.14", "10.0.0.5"],  # one public record does not vouch for all
    "metadata.example": ["169.254.169.254"],
    "local.example": ["127.0.0.1", "::1"],
    "ula.example": ["fd00::5"],
    "nat64.example": ["64:ff9b::a00:5"],  # a DNS64 resolver's answer for a private name
    "compat.example": ["::a00:5"],
    "zone.example": ["fe80::1%eth0"],
    "junk.example": ["not an address"],
    "empty.example": [],
    "public.example": ["93.184.215.14", "2606:4700:4700::1111", "93.184.215.14"],
}


# Each refused for a record of its own; all refused with the same words, since which record
# (or none) is what the gateway's resolver answers, and no merchant's to learn.
REFUSED_NAMES = [
    "internal.example",
    "mixed.example",
    "metadata.example",
    "local.example",
    "ula.example",
    "nat64.example",
    "compat.example",
    "zone.example",
    "junk.example",
    "empty.example",
    "missing.example",
]


def test_every_refused_name_is_in_the_table() -> None:
    assert set(REFUSED_NAMES) == (set(DNS) - {"public.example"}) | {"missing.example"}


@pytest.mark.parametrize("host", REFUSED_NAMES)
async def test_names_are_judged_by_every_record_and_refused_alike(host: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        await resolve_checked(host, 443, allow_loopback=False, resolver=_records(DNS))
    assert str(refused.value) == urls.NAME_REFUSED
    assert refused.value.data() is None


async def test_a_public_name_resolves_to_its_addresses_once_each() -> None:
    found = await resolve_checked(
        "public.example", 443, allow_loopback=False, resolver=_records(DNS)
    )
    assert [str(a) for a in found] == ["93.184.215.14", "2606:4700:4700::1111"]


async def test_staging_reaches_a_name_on_loopback_only_when_asked() -> None:
    found = await resolve_checked("local.example", 80, allow_loopback=True, resolver=_records(DNS))
    assert [str(a) for a in found] == ["127.0.0.1", "::1"]
    with pytest.raises(UrlRefused):
        await resolve_checked("internal.example", 80, allow_loopback=True, resolver=_records(DNS))


async def test_the_5002_refusal_names_an_address_but_never_what_a_name_resolved_to(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the API, on create and on a changed URL: an address as host is named with why it
    is refused, in the message and in ``data``; a name is refused with one sentence whether it
    resolved inside or not at all, so the gateway's resolver cannot be used to map names."""
    monkeypatch.setattr(urls, "system_resolver", _records(DNS))
    live = await make_merchant("live")
    targets = [
        ("10.0.0.5", "10.0.0.5", "private"),
        ("169.254.169.254", "169.254.169.254", "cloud metadata"),
        ("[::ffff:0:7f00:1]", "::ffff:0:7f00:1", "not global unicast"),
        ("0x7f.1", "127.0.0.1", "loopback"),
        ("[64:ff9b::a00:5]", "64:ff9b::a00:5", "NAT64 around 10.0.0.5, private"),
    ]
    for host, address, reason in targets:
        reply = await client.post(
            "/webhooks/endpoints", json={"url": f"https://{host}/hook"}, headers=live.headers
        )
        assert reply.status_code == 422, reply.text
        body = reply.json()
        assert body["code"] == 5002
        assert body["message"] == (
            f"Webhook URL invalid: URL host resolves to {address}, which is {reason}:"
            " only public internet addresses are allowed"
        )
        assert body["data"] == {"address": address, "reason": reason}
    named = ["internal.example", "metadata.example", "local.example", "missing.example"]
    for host in named:
        reply = await client.post(
            "/webhooks/endpoints", json={"url": f"https://{host}/hook"}, headers=live.headers
        )
        assert reply.json()["message"] == f"Webhook URL invalid: {urls.NAME_REFUSED}", host
        assert reply.json()["data"] is None
    made = await client.post(
        "/webhooks/endpoints", json={"url": "https://public.example/hook"}, headers=live.headers
    )
    assert made.status_code == 201, made.text
    patched = await client.patch(
        f"/webhooks/endpoints/{made.json()['data']['id']}",
        json={"url": "https://nat64.example/hook"},
        headers=live.headers,
    )
    assert (patched.status_code, patched.json()["data"]) == (422, None)
    assert "10.0.0.5" not in patched.text
