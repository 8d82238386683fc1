"""The stripe package below its public API, reached in this one place.

``stripe.HTTPXClient`` hands httpx the encoded form as ``data=<str>``, which httpx deprecates
(raw text belongs in ``content``); once that warning becomes an error, every checkout would fail.
The package offers no option for it, so ``HTTPXClient`` here overrides the private method both
its sync and async requests build their arguments with:
``_get_request_args_kwargs(self, method, url, headers, post_data)``, returning
``[(method, url), kwargs]`` with the body under ``kwargs["data"]``.

``tests/gateway/billing/test_stripe.py`` fails if that method disappears, changes its signature
or its result's shape, or stops being used for a request; ``pyproject.toml`` bounds stripe below
its next major release.
"""

from typing import Any

import stripe

__all__ = ["HTTPXClient"]


class HTTPXClient(stripe.HTTPXClient):
    """``stripe.HTTPXClient`` sending the encoded form as ``content``."""

    def _get_request_args_kwargs(
        self, method: str, url: str, headers: Any, post_data: Any
    ) -> list[Any]:
        args: list[Any] = super()._get_request_args_kwargs(method, url, headers, post_data)
        kwargs = args[1]
        data = kwargs.pop("data", None)
        if data:
            kwargs["content"] = data
        return args
