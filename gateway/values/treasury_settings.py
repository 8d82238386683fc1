"""The settings of the operator's treasury (``sellers.treasury``) and of who is told
about it: its Stripe payment method for live MPP tokens, its x402 payer key per network, kept
sealed (``keys.Sealer``, as every secret the gateway keeps is), and the operator's addresses its
alerts are mailed to. A part of ``Settings``, read from the same ``AITOPUP_*`` variables."""

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

__all__ = [
    "MOST_OPERATOR_EMAILS",
    "MOST_PAYER_KEYS",
    "TreasurySettings",
    "network_name",
    "payer_key_context",
]

MOST_OPERATOR_EMAILS = 10
MOST_PAYER_KEYS = 16
_NETWORK = re.compile(r"[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}")
_ADDRESS = re.compile(r"[^@\s<>,;\"]{1,64}@[^@\s<>,;\"]{1,189}")
_SEALED = re.compile(r"v1:[A-Za-z0-9_-]+=*")


def network_name(given: str) -> str | None:
    """``given`` if it is a CAIP-2 network's name, else ``None``."""
    return given if _NETWORK.fullmatch(given) else None


def payer_key_context(network: str) -> str:
    """What the treasury's sealed key for ``network`` is bound to: opened as another network's,
    or as any other sealed value, it does not open."""
    return f"treasury-x402-key:{network}"


class TreasurySettings(BaseSettings):
    # The operator's treasury, which pays sellers for wallets that pay (debited): its Stripe
    # payment method for live MPP tokens, and its x402 payer key per CAIP-2 network, each sealed
    # under ``AITOPUP_SECRET_KEY`` (``aitopup treasury --seal-x402-key NETWORK``), as JSON:
    # ``{"eip155:8453": "v1:…"}``. Staging pays with test instruments.
    treasury_stripe_payment_method: str | None = Field(default=None, max_length=255)
    treasury_x402_keys: dict[str, SecretStr] = Field(default_factory=dict)
    # The most of a rail's float one merchant's payments may have out at once, in percent: the
    # float is every merchant's, and one merchant's held or unused payments would otherwise
    # keep all the others' refused. An operator with one merchant sets 100.
    treasury_merchant_share_percent: int = Field(default=25, ge=1, le=100)
    # The key in clear, as it once was set: refused, so it is never kept so again.
    treasury_x402_key: SecretStr | None = None
    # Where the operator's alerts are mailed (the treasury's float below its level, a
    # reconciliation that disagrees): comma-separated addresses; none: the log and the admin
    # API's treasury read only.
    operator_emails: str = ""

    @field_validator("treasury_x402_key")
    @classmethod
    def _never_in_clear(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        raise ValueError(
            "the treasury's x402 key is kept sealed, per network: seal it with aitopup treasury "
            "--seal-x402-key NETWORK and set AITOPUP_TREASURY_X402_KEYS to "
            '{"NETWORK": "<sealed>"} instead'
        )

    @field_validator("treasury_x402_keys")
    @classmethod
    def _sealed_per_network(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        if len(value) > MOST_PAYER_KEYS:
            raise ValueError(f"at most {MOST_PAYER_KEYS} networks")
        for network, sealed in value.items():
            if network_name(network) is None:
                raise ValueError("each key is a CAIP-2 network, such as eip155:8453")
            if not _SEALED.fullmatch(sealed.get_secret_value()):
                raise ValueError(
                    f"the key for {network} is not sealed: seal it with aitopup treasury "
                    f"--seal-x402-key {network}"
                )
        return value

    @field_validator("operator_emails")
    @classmethod
    def _addresses(cls, value: str) -> str:
        found = [part.strip() for part in value.split(",") if part.strip()]
        if len(found) > MOST_OPERATOR_EMAILS:
            raise ValueError(f"at most {MOST_OPERATOR_EMAILS} addresses")
        if any(not _ADDRESS.fullmatch(part) for part in found):
            raise ValueError("a comma-separated list of e-mail addresses")
        return value

    @property
    def operator_addresses(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.operator_emails.split(",") if part.strip())
