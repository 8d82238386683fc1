"""Wire models of the fulfilment routes: what every provider's settings share (credentials in,
never out), and what the gateway shows of them. Each provider's own settings are a model of its
module (``upstreams.providers``); the body of ``PUT /fulfilment`` is one of them, by
``provider`` (``providers.body_model``)."""

from typing import Literal

from pydantic import ConfigDict, Field

from ..values.model import Model
from ..values.money import NEWAPI_QUOTA_PER_USD

__all__ = [
    "DEFAULT_QUOTA_PER_USD",
    "MAX_INSTRUCTIONS",
    "FulfilmentData",
    "FulfilmentTestData",
    "Redeem",
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


class Redeem(_Strict):
    """Where the recipient spends what they receive, and how: the e-mail's and the recipient
    page's button ("Redeem at <host>") and line. Every provider's settings start from it and
    add ``provider``, its name as a ``Literal``: the body's tag."""

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


class FulfilmentData(Model):
    env: str
    platform: str
    provider: str
    base_url: str | None = None
    user_id: str | None = Field(default=None, description="New API's user id.")
    quota_per_usd: int | None = None
    redeem_url: str | None = Field(default=None, description="Where recipients redeem.")
    redeem_instructions: str | None = None
    limit_reset: str | None = Field(
        default=None,
        description="OpenRouter: how the limit of each key made for a recipient resets "
        "(daily, weekly, monthly); null: never.",
    )
    key_expires_after_days: int | None = Field(
        default=None,
        description="OpenRouter: days after its making each key made for a recipient expires; "
        "null: never.",
    )
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
