"""A provider's credentials: the model each provider subclasses, and its fields' types."""

import re
from typing import Annotated

from pydantic import AfterValidator, ConfigDict

from ....values.model import Model

__all__ = ["ApiRoot", "Credentials", "CurrencyCode", "NoCredentials"]


class Credentials(Model):
    """A provider's credentials for one environment. Subclass with the provider's fields;
    every secret one a ``SecretStr`` (the gateway seals the whole model at rest, answers each
    ``SecretStr`` masked and keeps a saved secret when an update leaves it out). Non-secret
    fields (an API root, a merchant number) are answered as they are."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    def account_id(self) -> str:
        """The provider's account these credentials name in the clear (Epay's merchant
        number), within which the provider's ids are unique; "" where only a secret names it,
        and the channel and environment stand for the account."""
        return ""


_CURRENCY = re.compile(r"[A-Z]{3}")


def _api_root(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("an absolute http(s) URL")
    return value.rstrip("/")


def _currency(value: str) -> str:
    if not _CURRENCY.fullmatch(value.upper()):
        raise ValueError("a currency is its three-letter ISO 4217 code, such as KWD")
    return value.upper()


# A credentials field: a provider's API root, absolute http(s), kept without a trailing slash.
ApiRoot = Annotated[str, AfterValidator(_api_root)]
# A credentials field: the account's currency, its ISO 4217 code, kept in upper case.
CurrencyCode = Annotated[str, AfterValidator(_currency)]


class NoCredentials(Credentials):
    """A provider that needs none (the sandbox)."""
