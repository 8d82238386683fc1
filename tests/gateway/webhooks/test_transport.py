"""``transport.encoded_headers`` against ``httpx.Headers``: the one adapter that reaches into
httpx's headers must give a reader exactly what httpx's own constructor gives."""

import httpx
import pytest

from gateway.webhooks.transport import encoded_headers

CASES = [
    [],
    [(b"Content-Type", b"application/json"), (b"X-AiTopUp-Event", b"topup.sent")],
    # A name twice, in two cases; a value httpx reads as UTF-8, and one only as ISO-8859-1.
    [(b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"X-Name", "é".encode())],
    [(b"X-Latin", b"\xe9t\xe9"), (b"Retry-After", b"30")],
]


@pytest.mark.parametrize("raw", CASES)
def test_encoded_headers_read_as_httpx_s_own(raw: list[tuple[bytes, bytes]]) -> None:
    made, own = encoded_headers(raw), httpx.Headers(raw)
    assert made == own
    assert made.raw == own.raw
    assert made.encoding == own.encoding
    assert made.multi_items() == own.multi_items()
    assert list(made.items()) == list(own.items())
    for name, _ in raw:
        text = name.decode("ascii")
        assert made.get_list(text.upper()) == own.get_list(text.upper())
    # As a request's (made as a delivery's is, its own headers alone): httpx copies them, and a
    # header set later joins them as it would.
    request = httpx.Request(
        "POST", "http://example.test/", stream=httpx.ByteStream(b""), headers=made
    )
    request.headers["X-Added"] = "1"
    assert request.headers.raw == [*own.raw, (b"X-Added", b"1")]
    assert made.raw == own.raw  # the request's copy is its own


def test_encoded_headers_keep_no_list_of_the_caller_s() -> None:
    raw = [(b"A", b"1")]
    made = encoded_headers(raw)
    raw.append((b"B", b"2"))
    assert made.raw == [(b"A", b"1")]
