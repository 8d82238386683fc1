"""The stripe package below its public API, reached in this one place.

``stripe.HTTPXClient`` hands httpx the encoded form as ``data=<str>``, which httpx deprecates
(raw text belongs in ``content``); once that warning becomes an error, every checkout would fail.
The package offers no option for it, so ``HTTPXClient`` here overrides the private method both
its sync and async requests build their arguments with:
``_get_request_args_kwargs(self, method, url, headers, post_data)``, returning
``[(method, url), kwargs]`` with the body under ``kwargs["data"]``.

The package's ``HTTPXClient`` builds its ``httpx.AsyncClient`` (``_client_async``) with a TLS
context read from its CA bundle each time; ``HTTPXClient`` here is built without one and gives
that attribute a client verifying with the process's context instead.

The package's ``request_async`` reads Stripe's answer whole (``response.content``), however long
it is, and its ``timeout`` bounds each read, not the exchange. ``request_async`` here sends on the
package's own client (``_client_async``), reads the answer as it arrives to ``BODY_CAP``
(``webhooks.bodies``), asked for as it is (``Accept-Encoding: identity``), and bounds the whole
exchange by the same ``timeout``; a failure goes through the package's ``_handle_request_error``,
so it is the ``APIConnectionError`` the package would raise, the httpx error its cause.

``tests/gateway/billing/channels/test_stripe_client.py`` fails if what is reached disappears,
changes its signature or its result's shape, or stops being used for a request; ``pyproject.toml``
bounds stripe below its next major release.
"""

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import stripe

from ....values.tls import verifying
from ....webhooks.bodies import BodyTooLarge, encoded, read_capped

__all__ = ["BODY_CAP", "HTTPXClient"]

# What is read of one answer of Stripe's: its objects are a few kilobytes.
BODY_CAP = 1 << 20


class HTTPXClient(stripe.HTTPXClient):
    """``stripe.HTTPXClient`` sending the encoded form as ``content``, reading an answer to
    ``BODY_CAP`` within ``timeout`` whole, and verifying with the process's TLS context."""

    def __init__(self, *, timeout: float) -> None:
        # The package makes each client a TLS context from its own CA bundle (2-3 ms of CPU, on
        # every exchange with Stripe, since a client serves one). Asked for none, it makes a
        # client that is never used: replaced at once by one verifying with the process's one
        # context (``values.tls``), so every request verifies, as the package's own would.
        super().__init__(timeout=timeout, verify_ssl_certs=False)
        self._client_async = httpx.AsyncClient(verify=verifying())

    def _get_request_args_kwargs(
        self, method: str, url: str, headers: Any, post_data: Any
    ) -> list[Any]:
        args: list[Any] = super()._get_request_args_kwargs(method, url, headers, post_data)
        kwargs = args[1]
        data = kwargs.pop("data", None)
        if data:
            kwargs["content"] = data
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Accept-Encoding": "identity"}
        return args

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        args, kwargs = self._get_request_args_kwargs(method, url, headers, post_data)
        client: httpx.AsyncClient = self._client_async
        budget: float | None = self._timeout if isinstance(self._timeout, int | float) else None
        try:
            async with asyncio.timeout(budget):
                response = await client.send(client.build_request(*args, **kwargs), stream=True)
                try:
                    content = await read_capped(response, BODY_CAP, whole=True)
                finally:
                    await response.aclose()
            if encoded(response):
                raise httpx.DecodingError("answer in an encoding not asked for")
        except TimeoutError:
            self._handle_request_error(httpx.ReadTimeout("no whole answer in time"))
        except BodyTooLarge as exc:
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]  # unannotated
                f"Stripe's answer is too long: {exc}", should_retry=False
            ) from None
        except Exception as exc:  # as the package's own: every failure a connection error
            self._handle_request_error(exc)
        return content, response.status_code, response.headers
