"""Checking a received webhook's signatures as a merchant's receiver should: what ``aitopup
listen`` runs on each request, and what the staging test inbox runs to say whether a request
it received verified.

Given ``whsec_`` secrets, both HMAC headers must verify (``webhook-signature``'s ``v1,`` and
``X-AiTopUp-Signature``); given ``whpk_`` public keys, a ``v1a,`` signature under each. A request
must pass every key given, and a stale ``webhook-timestamp`` fails whatever it carries.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from keys import (
    InvalidSecret,
    decode_verifying_key,
    decode_webhook_secret,
    verify_aitopup,
    verify_standard,
    verify_v1a,
)

__all__ = ["Verifier"]


@dataclass(frozen=True, slots=True)
class Verifier:
    hmac_keys: Sequence[bytes] = ()
    public_keys: Sequence[Ed25519PublicKey] = ()

    @classmethod
    def of(cls, given: Sequence[str]) -> "Verifier":
        """From ``whsec_`` secrets and ``whpk_`` public keys, in any order; ``InvalidSecret``
        for anything else, or for nothing at all."""
        hmac_keys: list[bytes] = []
        public_keys: list[Ed25519PublicKey] = []
        for each in given:
            if each.startswith("whpk_"):
                public_keys.append(decode_verifying_key(each))
            else:
                hmac_keys.append(decode_webhook_secret(each))
        if not hmac_keys and not public_keys:
            raise InvalidSecret("no webhook secret or public key")
        return cls(tuple(hmac_keys), tuple(public_keys))

    def check(self, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
        """Passes, or raises ``BadSignature`` saying why. ``headers``: names in lower case (or
        a case-insensitive mapping), the raw ``body`` as received."""
        msg_id = headers.get("webhook-id", "")
        timestamp = headers.get("webhook-timestamp", "")
        signatures = headers.get("webhook-signature", "")
        for key in self.hmac_keys:
            verify_standard(key, msg_id, timestamp, signatures, body, now=now)
            verify_aitopup(key, headers.get("x-aitopup-signature", ""), body, now=now)
        for public in self.public_keys:
            verify_v1a(public, msg_id, timestamp, signatures, body, now=now)
