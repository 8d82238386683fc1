"""Standard Webhooks asymmetric signing keys (``v1a``, ed25519).

A keypair per endpoint: the private key ``whsk_<base64 of the raw 32-byte key>``, kept sealed by
the gateway; the public key ``whpk_<base64 of the raw 32-byte key>``, which a receiver holds to
verify without being able to sign. The signatures they make are in ``signing``.
"""

import base64
import binascii

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from .errors import InvalidSecret

__all__ = [
    "decode_signing_key",
    "decode_verifying_key",
    "new_signing_key",
    "public_key_of",
]

_SECRET_PREFIX = "whsk_"  # noqa: S105  (the prefix, not a secret)
_PUBLIC_PREFIX = "whpk_"
_KEY_BYTES = 32


def _raw(text: str, prefix: str) -> bytes:
    if not text.startswith(prefix):
        raise InvalidSecret(f"expected a key starting with {prefix}")
    try:
        raw = base64.b64decode(text[len(prefix) :], validate=True)
    except binascii.Error:
        raise InvalidSecret("key is not base64") from None
    if len(raw) != _KEY_BYTES:
        raise InvalidSecret("an ed25519 key is 32 bytes")
    return raw


def new_signing_key() -> str:
    """A fresh ``whsk_`` private key."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    return _SECRET_PREFIX + base64.b64encode(raw).decode()


def decode_signing_key(secret: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_raw(secret, _SECRET_PREFIX))


def decode_verifying_key(public: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_raw(public, _PUBLIC_PREFIX))


def public_key_of(secret: str) -> str:
    """The ``whpk_`` public key of a ``whsk_`` private key."""
    raw = decode_signing_key(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _PUBLIC_PREFIX + base64.b64encode(raw).decode()
