"""Encryption at rest for secrets the service must read back (webhook secrets, vouchers).

AES-256-GCM under a key derived from the configured master secret; the token carries a version so
the master key can be rotated later without a flag day.
"""

import base64
import binascii
import hashlib
import hmac
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
        self._lookup_key = hashlib.sha256(b"aitopup-lookup-v1" + master_secret).digest()

    def lookup(self, plaintext: str) -> str:
        """A keyed digest of ``plaintext`` (HMAC-SHA256 under a key of its own): what finds a
        sealed secret by equality (a voucher presented for redemption) while only its seal
        and this digest are stored. Equal texts give equal digests; the text is not in it."""
        return hmac.new(self._lookup_key, plaintext.encode(), hashlib.sha256).hexdigest()

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
