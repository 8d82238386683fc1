"""Staging's Shared Payment Tokens: what Stripe's test helper
(``POST /v1/test_helpers/shared_payment/granted_tokens``) is to live, minted by the sandbox.

A token names its usage limit (the most it may be charged, and the currency) and the merchant
it was granted for, and carries an HMAC of them under a key derived from the gateway's secret:
nothing is stored, and a token cannot be made up or stretched. Charging one (``check``) is
staging's payment: no money moves.
"""

import hashlib
import hmac
import re
import secrets

from ...values.code_names import Code
from ...values.outcome import Outcome
from ...values.settings import Settings

__all__ = ["PREFIX", "SptRefused", "check", "grant", "mint"]

PREFIX = "spt_test_"
_SHAPE = re.compile(r"spt_test_([0-9a-f]{16})_([0-9]{1,12})_([a-z]{3})_([0-9a-f]{32})")


class SptRefused(Exception):
    """Not a token the sandbox minted for this merchant, or short of the charge."""


def _mac(settings: Settings, merchant_id: str, nonce: str, limit: int, currency: str) -> str:
    key = hmac.new(
        settings.secret_key.get_secret_value().encode(), b"sandbox-spt", hashlib.sha256
    ).digest()
    text = f"{merchant_id}:{nonce}:{limit}:{currency}".encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()[:32]


def mint(
    settings: Settings,
    merchant_id: str,
    limit_cents: int,
    currency: str,
    *,
    nonce: str | None = None,
) -> str:
    """A token that may be charged at most ``limit_cents`` of ``currency`` for the merchant.
    ``nonce`` (16 hex digits): the token's own, given where minting again must make the same
    token (an agent wallet's payment, made once per payment id); drawn afresh without it."""
    if nonce is None:
        nonce = secrets.token_hex(8)
    elif re.fullmatch(r"[0-9a-f]{16}", nonce) is None:
        raise ValueError("a sandbox token's nonce is 16 hex digits")
    currency = currency.lower()
    mac = _mac(settings, merchant_id, nonce, limit_cents, currency)
    return f"{PREFIX}{nonce}_{limit_cents}_{currency}_{mac}"


def check(
    settings: Settings, token: str, merchant_id: str, amount_cents: int, currency: str
) -> None:
    """Refused (``SptRefused``) unless the sandbox minted ``token`` for the merchant with a
    limit of at least ``amount_cents`` of ``currency``; the MAC compared in constant time."""
    found = _SHAPE.fullmatch(token)
    if found is None:
        raise SptRefused("not a sandbox token")
    nonce, limit, minted_in, mac = found.groups()
    expected = _mac(settings, merchant_id, nonce, int(limit), minted_in)
    if not hmac.compare_digest(mac, expected):
        raise SptRefused("not minted for this merchant")
    if minted_in != currency.lower() or int(limit) < amount_cents:
        raise SptRefused("beyond the token's usage limit")


async def grant(settings: Settings, merchant_id: str, limit_cents: int, currency: str) -> Outcome:
    """A test Shared Payment Token granted to ``merchant_id`` (``data``: its ``id``, the most it
    may be charged and the currency), as Stripe's test helper grants one."""
    token = mint(settings, merchant_id, limit_cents, currency)
    return Outcome(Code.CREATED, {"id": token, "amount_cents": limit_cents, "currency": currency})
