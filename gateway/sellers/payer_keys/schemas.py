"""Wire models of a merchant's payer keys: what setting one takes, and what a key reads as (its
address, never its secret)."""

from pydantic import ConfigDict, Field

from ...values.model import Model

__all__ = ["MAX_PROTOCOL", "PayerKeyData", "PayerKeySet"]

MAX_PROTOCOL = 40


class PayerKeySet(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    protocol: str = Field(
        min_length=1,
        max_length=MAX_PROTOCOL,
        description="The protocol the key pays sellers in: `x402` (its `exact` scheme's EIP-3009 "
        "authorizations are signed with it).",
    )
    private_key: str | None = Field(
        default=None,
        max_length=200,
        repr=False,
        description="The key to import: for x402, an EVM account's private key, 32 bytes in hex "
        "(`0x` and 64 hex digits). Omitted, the gateway makes one. Kept sealed and never shown "
        "again, whichever it is.",
    )


class PayerKeyData(Model):
    """A payer key as every read shows it: whose it is and the address it pays from."""

    protocol: str = Field(description="The protocol it pays in.")
    env: str = Field(description="The environment whose wallet pays with it.")
    address: str = Field(
        description="The address it pays from: fund it with the asset the protocol pays in "
        "(x402: the USDC of AITOPUP_X402_NETWORK in live)."
    )
    created_at: str
