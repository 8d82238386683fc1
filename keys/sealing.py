"""Encryption at rest for secrets the service must read back (webhook secrets, vouchers).

AES-256-GCM under a key derived from the configured master secret; the token carries a version so
the master key can be rotated later without a flag day.
"""

import base64
import binascii
import hashlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import SealError

__all__ = ["Sealer"]

_VERSION = "v1"
_NONCE_BYTES = 12


class Sealer:
    def __init__(self, master_secret: bytes) -> None:
        if len(master_secret) < 16:
            raise SealError("the sealing secret must be at least 16 bytes")
        # Domain-separate the AES key from any other use of the same master secret.
        self._aead = AESGCM(hashlib.sha256(b"aitopup-seal-v1" + master_secret).digest())

    def seal(self, plaintext: str, *, context: str = "") -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, token: str, *, context: str = "") -> str:
        version, _, payload = token.partition(":")
        if version != _VERSION:
            raise SealError("unknown sealed value version")
        try:
            raw = base64.urlsafe_b64decode(payload)
            opened = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except (binascii.Error, InvalidTag, ValueError):
            raise SealError("sealed value cannot be opened") from None
        return opened.decode()

    def __repr__(self) -> str:
        return "Sealer(<hidden>)"
