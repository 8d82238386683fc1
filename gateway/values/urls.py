"""A URL from outside, split once by the one rule every door that takes a URL keeps.

The checks judge a URL by ``urllib.parse.urlsplit``'s parts, and the gateway connects to it
through httpx, whose parser is stricter: ``https://[::1]]/x`` splits into host ``::1`` for the
one and is no URL for the other, so a URL the checks passed raised when it was fetched (a 500
where it was fetched in a request). A URL is taken only if both read it, its port included
(``urlsplit`` raises for a port past 65535 only when the port is read)."""

from urllib.parse import SplitResult, urlsplit

import httpx

__all__ = ["split_url"]


def split_url(value: str) -> SplitResult:
    """``value`` split into its parts, or ``ValueError`` if either parser refuses it."""
    try:
        parts = urlsplit(value)
        _ = parts.port
        httpx.URL(value)
    except (ValueError, httpx.InvalidURL):
        raise ValueError("not a URL (a bracket, the host or the port)") from None
    return parts
