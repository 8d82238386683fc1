"""Key and secret primitives: API keys, webhook secrets, signatures, sealing. No I/O."""

from .apikey import ENVS, ApiKey, Env, hash_api_key, mint_api_key, parse_api_key
from .codes import (
    canonical_voucher,
    hash_code,
    mint_redemption_code,
    mint_voucher_code,
    normalize_code,
)
from .ed25519 import decode_signing_key, decode_verifying_key, new_signing_key, public_key_of
from .errors import BadSignature, InvalidApiKey, InvalidSecret, KeysError, SealError
from .oauth import (
    CredentialKind,
    InvalidCredential,
    credential_kind,
    hash_credential,
    mint_credential,
)
from .poller import POLLER_KEY_PREFIX, hash_poller_key, mint_poller_key, poller_key_env
from .sealing import Sealer
from .secret import decode_webhook_secret, new_webhook_secret
from .signing import (
    DEFAULT_TOLERANCE_SECONDS,
    aitopup_signature,
    sign_headers,
    standard_signature,
    v1a_signature,
    verify_aitopup,
    verify_standard,
    verify_v1a,
)

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "ENVS",
    "POLLER_KEY_PREFIX",
    "ApiKey",
    "BadSignature",
    "CredentialKind",
    "Env",
    "InvalidApiKey",
    "InvalidCredential",
    "InvalidSecret",
    "KeysError",
    "SealError",
    "Sealer",
    "aitopup_signature",
    "canonical_voucher",
    "credential_kind",
    "decode_signing_key",
    "decode_verifying_key",
    "decode_webhook_secret",
    "hash_api_key",
    "hash_code",
    "hash_credential",
    "hash_poller_key",
    "mint_api_key",
    "mint_credential",
    "mint_poller_key",
    "mint_redemption_code",
    "mint_voucher_code",
    "new_signing_key",
    "new_webhook_secret",
    "normalize_code",
    "parse_api_key",
    "poller_key_env",
    "public_key_of",
    "sign_headers",
    "standard_signature",
    "v1a_signature",
    "verify_aitopup",
    "verify_standard",
    "verify_v1a",
]
