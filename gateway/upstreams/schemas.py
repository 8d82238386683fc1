"""Wire models of the fulfilment routes: a provider's settings as saved (credentials in, never
out), and what the gateway shows of them."""

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, RootModel

from ..values.model import Model
from ..values.money import NEWAPI_QUOTA_PER_USD

__all__ = [
    "DEFAULT_QUOTA_PER_USD",
    "MAX_INSTRUCTIONS",
    "FulfilmentBody",
    "FulfilmentData",
    "FulfilmentSet",
    "FulfilmentTestData",
    "NewApiSet",
    "OpenRouterSet",
    "UpstreamKeyData",
    "VoucherSet",
]

# New API's own default: 500,000 quota units a US dollar (the unit rule: ``values.money``).
DEFAULT_QUOTA_PER_USD = NEWAPI_QUOTA_PER_USD
# One line a recipient reads beside the redemption button: plain text, no markup, no breaks.
MAX_INSTRUCTIONS = 300
_PLAIN_LINE = r"^[^<>\x00-\x1f\x7f]*$"


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", strict=True)


class VoucherSet(_Strict):
    provider: Literal["voucher"] = Field(description="The built-in voucher (the default).")


class _Redeem(_Strict):
    """Where the recipient spends what they receive, and how: the e-mail's and the recipient
    page's button ("Redeem at <host>") and line."""

    redeem_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="The public address where recipients redeem (a page a person opens): "
        "https, or loopback over http in staging when the gateway allows it.",
    )
    redeem_instructions: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_INSTRUCTIONS,
        pattern=_PLAIN_LINE,
        description=f"One line of plain text shown beside it (at most {MAX_INSTRUCTIONS} "
        "characters; no markup, no line breaks).",
    )


class NewApiSet(_Redeem):
    provider: Literal["newapi"]
    base_url: str = Field(
        min_length=1, max_length=2048, description="The New API instance, absolute http(s)."
    )
    access_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="An admin's access token; sealed, never shown. Omitted: the one saved "
        "for this platform's New API stays.",
    )
    user_id: int = Field(ge=1, le=2**31 - 1, description="That admin's user id (New-Api-User).")
    quota_per_usd: int = Field(
        default=DEFAULT_QUOTA_PER_USD,
        ge=1,
        le=10**9,
        description="Quota units one US dollar buys on this instance.",
    )


class OpenRouterSet(_Redeem):
    provider: Literal["openrouter"]
    management_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="A management key; sealed, never shown. Omitted: the one saved for this "
        "platform's OpenRouter stays.",
    )
    base_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="OpenRouter's API root; unset, https://openrouter.ai/api/v1.",
    )


FulfilmentSet = Annotated[VoucherSet | NewApiSet | OpenRouterSet, Field(discriminator="provider")]


class FulfilmentData(Model):
    env: str
    platform: str
    provider: str
    base_url: str | None = None
    user_id: str | None = Field(default=None, description="New API's user id.")
    quota_per_usd: int | None = None
    redeem_url: str | None = Field(default=None, description="Where recipients redeem.")
    redeem_instructions: str | None = None
    credentials_set: bool = Field(description="A credential is saved (it is never shown).")
    updated_at: str | None = None


class FulfilmentTestData(Model):
    platform: str
    provider: str
    ok: bool
    duration_ms: int


class UpstreamKeyData(Model):
    """A credential the recipient spends at an upstream, in clear: for the recipient alone."""

    provider: str
    label: str
    value: str


class FulfilmentBody(RootModel[FulfilmentSet]):
    """``PUT /fulfilment/{platform}``: one of the providers, by ``provider``."""
