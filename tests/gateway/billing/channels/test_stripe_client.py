"""What ``gateway.billing.channels.providers.stripe_client`` reaches of the stripe package is still
there and still behaves so: these fail first when an upgrade of stripe moves it."""

import asyncio
import inspect
import time
import warnings
from pathlib import Path

import httpx
import pytest
import respx
import stripe

from gateway.billing.channels.providers.stripe_client import HTTPXClient
from tests.fixtures.tls import self_signed
from tests.fixtures.upstreams import endless_search, serve_raw, trickling

URL = "https://stripe.test/v1/probe"
FORM = "a=1&b=two"


def test_the_private_method_is_stripes_own_with_its_signature() -> None:
    assert "_get_request_args_kwargs" in vars(stripe.HTTPXClient)
    reached = inspect.signature(stripe.HTTPXClient._get_request_args_kwargs)
    assert list(reached.parameters) == ["self", "method", "url", "headers", "post_data"]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in reached.parameters.values())


async def test_stripes_arguments_carry_the_form_as_data() -> None:
    http = stripe.HTTPXClient(timeout=5)
    try:
        args, kwargs = http._get_request_args_kwargs("POST", URL, {"X": "1"}, FORM)
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]
    assert tuple(args) == ("POST", URL)
    assert kwargs["data"] == FORM and kwargs["headers"] == {"X": "1"}


async def test_a_request_sends_the_form_as_content_without_a_warning() -> None:
    """Through the package's own ``request_async``: if it stopped building its arguments with
    the overridden method, the form would go as ``data`` and httpx would warn."""
    http = HTTPXClient(timeout=5)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        with respx.mock(assert_all_called=True) as api, warnings.catch_warnings():
            warnings.simplefilter("error")
            posted = api.post(URL).respond(200, json={})
            fetched = api.get(URL).respond(200, json={})
            _, status, _ = await http.request_async("POST", URL, headers, FORM)
            await http.request_async("GET", URL, {}, None)
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]
    assert status == 200
    assert posted.calls.last.request.content == FORM.encode()
    assert fetched.calls.last.request.content == b""


async def test_an_answer_is_read_to_its_cap_and_within_the_timeout_whole() -> None:
    """Against real far sides on 127.0.0.1: one that streams without end is refused at
    ``BODY_CAP`` (not retried), one that trickles a byte at a time is cut at the timeout, though
    no single read waits that long; the answer is asked for as it is."""
    http = HTTPXClient(timeout=0.5)
    try:
        async with asyncio.timeout(10), serve_raw(endless_search) as endless:
            with pytest.raises(stripe.APIConnectionError, match="too long") as refused:
                await http.request_async("GET", f"{endless.root}/v1/probe", {}, None)
        assert refused.value.should_retry is False
        async with serve_raw(trickling) as slow:
            started = time.monotonic()
            with pytest.raises(stripe.APIConnectionError) as cut:
                await http.request_async("GET", f"{slow.root}/v1/probe", {}, None)
        assert time.monotonic() - started < 5
        assert isinstance(cut.value.__cause__, httpx.ReadTimeout)
        with respx.mock(assert_all_called=True) as api:
            asked = api.get(URL).respond(200, json={"id": "x"})
            content, status, _ = await http.request_async("GET", URL, {}, None)
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]
    assert (status, content) == (200, b'{"id":"x"}')
    assert asked.calls.last.request.headers["accept-encoding"] == "identity"


async def test_the_client_verifies_stripes_certificate(tmp_path: Path) -> None:
    """Built without the package's own TLS context, the client still verifies: a far side whose
    certificate no authority signed is refused, as the package's own client would refuse it."""
    _, server_side = self_signed(tmp_path)

    async def hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(hello, "127.0.0.1", 0, ssl=server_side)
    port = server.sockets[0].getsockname()[1]
    http = HTTPXClient(timeout=5)
    try:
        with pytest.raises(stripe.APIConnectionError) as refused:
            await http.request_async("GET", f"https://localhost:{port}/v1/probe", {}, None)
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]
        server.close()
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value.__cause__)
