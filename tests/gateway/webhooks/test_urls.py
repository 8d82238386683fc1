import ipaddress

import pytest

from gateway.webhooks.urls import (
    UrlRefused,
    check_address,
    numeric_host,
    parse_webhook_url,
    resolve_checked,
)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("example.com", None),
    ],
)
def test_numeric_hosts_in_every_form(host: str, address: str | None) -> None:
    found = numeric_host(host)
    assert (str(found) if found else None) == address


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd00::1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "ff02::1",
    ],
)
def test_private_addresses_are_refused(address: str) -> None:
    with pytest.raises(UrlRefused):
        check_address(ipaddress.ip_address(address), allow_loopback=False)


def test_loopback_only_is_allowed_when_asked() -> None:
    check_address(ipaddress.ip_address("127.0.0.1"), allow_loopback=True)
    check_address(ipaddress.ip_address("::1"), allow_loopback=True)
    with pytest.raises(UrlRefused):
        check_address(ipaddress.ip_address("10.0.0.1"), allow_loopback=True)


def test_public_addresses_pass() -> None:
    for address in ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"):
        check_address(ipaddress.ip_address(address), allow_loopback=False)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x.example/",
        "//x.example/",
        "http://",
        "http://a:b@x.example/",
        "http://x.example:99999/",
    ],
)
def test_malformed_urls(url: str) -> None:
    with pytest.raises(UrlRefused):
        parse_webhook_url(url)


def test_default_ports() -> None:
    assert parse_webhook_url("https://x.example/h").port == 443
    assert parse_webhook_url("http://x.example/h").port == 80


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(UrlRefused, match="must resolve to public internet addresses only"):
        await resolve_checked("localhost", 80, allow_loopback=False)
    with pytest.raises(UrlRefused, match=r"resolves to 127\.0\.0\.1, which is loopback"):
        await resolve_checked("127.0.0.1", 80, allow_loopback=False)
    assert await resolve_checked("2130706433", 80, allow_loopback=True) == [
        ipaddress.ip_address("127.0.0.1")
    ]
