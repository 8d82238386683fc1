"""What the channels' routes take and answer: the operator's setting of a channel in one
environment, its view of every channel, and a merchant's view of those it may pay through."""

from typing import Any, Literal

from pydantic import ConfigDict, Field

from ...values.model import Model

__all__ = ["ChannelAdminData", "ChannelEnvData", "ChannelInfo", "ChannelSet"]


class ChannelSet(Model):
    """``PUT /api/admin/v1/billing/channels/{channel}/{env}``. ``credentials`` are the
    provider's fields; a secret field left out keeps the one saved, and ``credentials`` left
    out keep them all."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool
    credentials: dict[str, Any] | None = Field(
        default=None,
        description="The provider's credential fields (GET /billing/channels lists them); "
        "sealed at rest and answered masked.",
    )


class ChannelEnvData(Model):
    env: Literal["staging", "live"]
    enabled: bool = Field(description="Offered to merchants in this environment.")
    source: Literal["saved", "default"] = Field(
        description="saved: the operator's setting; default: the provider's own (Stripe's "
        "from AITOPUP_STRIPE_*, the sandbox in staging)."
    )
    configured: bool = Field(description="Credentials are there (saved, or the default's).")
    credentials: dict[str, Any] | None = Field(
        description="The saved credentials, each secret field as ******** (never its value)."
    )
    through: str = Field(
        description="Who takes the payment here: the channel itself, or the sandbox (staging)."
    )


class ChannelAdminData(Model):
    channel: str
    title: str
    kinds: list[str] = Field(description="checkout, invoice.")
    subscriptions: bool
    can_look_up: bool = Field(description="Reconciliation asks the provider for the state.")
    can_refund: bool
    credential_fields: dict[str, bool] = Field(
        description="The provider's credential fields, true for each secret one."
    )
    notify_url: str = Field(description="Where the provider sends its notifications.")
    notify_methods: list[str]
    envs: list[ChannelEnvData]


class ChannelInfo(Model):
    """A channel a merchant may pay through in its environment."""

    channel: str
    title: str
    kinds: list[str] = Field(description="checkout, invoice.")
    subscriptions: bool
    through: str = Field(
        description="Who takes the payment: the channel itself (live), or the sandbox, which "
        "stands in for every channel in staging."
    )
