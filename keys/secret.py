"""Webhook signing secrets: ``whsec_<base64 of 32 random bytes>``."""

import base64
import binascii
import secrets

from .errors import InvalidSecret

__all__ = ["decode_webhook_secret", "new_webhook_secret"]

_PREFIX = "whsec_"
_SECRET_BYTES = 32


def new_webhook_secret() -> str:
    return _PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def decode_webhook_secret(secret: str) -> bytes:
    """The HMAC key bytes, as the Standard Webhooks libraries decode them."""
    if not secret.startswith(_PREFIX):
        raise InvalidSecret("webhook secrets start with whsec_")
    try:
        key = base64.b64decode(secret[len(_PREFIX) :], validate=True)
    except binascii.Error:
        raise InvalidSecret("webhook secret is not base64") from None
    if len(key) < 24:
        raise InvalidSecret("webhook secret is too short")
    return key
