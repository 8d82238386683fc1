import base64
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook

from keys import (
    BadSignature,
    InvalidSecret,
    decode_signing_key,
    decode_verifying_key,
    decode_webhook_secret,
    new_signing_key,
    new_webhook_secret,
    public_key_of,
    sign_headers,
    verify_v1a,
)

BODY = json.dumps({"id": "evt_1", "type": "topup.delivered"}).encode()


def test_keys_have_the_standard_webhooks_forms() -> None:
    secret = new_signing_key()
    public = public_key_of(secret)
    assert secret.startswith("whsk_") and public.startswith("whpk_")
    assert len(base64.b64decode(secret[5:])) == 32
    assert len(base64.b64decode(public[5:])) == 32
    assert public_key_of(secret) == public  # the same key each time
    assert new_signing_key() != secret
    for bad in ("whsec_AAAA", "whsk_!!!", "whsk_" + base64.b64encode(b"x" * 31).decode()):
        with pytest.raises(InvalidSecret):
            decode_signing_key(bad)
    with pytest.raises(InvalidSecret):
        decode_verifying_key(secret)


def test_a_public_key_alone_verifies_v1a() -> None:
    secret = new_signing_key()
    now = int(time.time())
    headers = sign_headers([], "evt_1", now, BODY, ed25519=[decode_signing_key(secret)])
    assert "X-AiTopUp-Signature" not in headers  # HMAC only, and there is no HMAC key here
    [signature] = headers["webhook-signature"].split(" ")
    assert signature.startswith("v1a,")
    # Plain cryptography, from the whpk_ text alone.
    raw = base64.b64decode(public_key_of(secret).removeprefix("whpk_"))
    Ed25519PublicKey.from_public_bytes(raw).verify(
        base64.b64decode(signature[4:]), f"evt_1.{now}.".encode() + BODY
    )
    public = decode_verifying_key(public_key_of(secret))
    verify_v1a(public, "evt_1", str(now), headers["webhook-signature"], BODY)
    with pytest.raises(BadSignature):
        verify_v1a(public, "evt_1", str(now), headers["webhook-signature"], BODY + b" ")
    with pytest.raises(BadSignature):
        verify_v1a(public, "evt_2", str(now), headers["webhook-signature"], BODY)
    with pytest.raises(BadSignature):
        verify_v1a(public, "evt_1", str(now - 400), headers["webhook-signature"], BODY)
    other = decode_verifying_key(public_key_of(new_signing_key()))
    with pytest.raises(BadSignature):
        verify_v1a(other, "evt_1", str(now), headers["webhook-signature"], BODY)
    for garbage in ("", "v1a,", "v1a,!!", "v1a,AAAA", "v1,abc"):
        with pytest.raises(BadSignature):
            verify_v1a(public, "evt_1", str(now), garbage, BODY)


def test_both_schemes_side_by_side_each_verifies_its_own() -> None:
    hmac_secret = new_webhook_secret()
    old, new = new_signing_key(), new_signing_key()
    now = int(time.time())
    headers = sign_headers(
        [decode_webhook_secret(hmac_secret)],
        "evt_1",
        now,
        BODY,
        ed25519=[decode_signing_key(new), decode_signing_key(old)],
    )
    versions = [s.split(",")[0] for s in headers["webhook-signature"].split(" ")]
    assert versions == ["v1", "v1a", "v1a"]
    assert "X-AiTopUp-Signature" in headers
    # The standardwebhooks package, unchanged, skips the v1a signatures it does not know.
    assert Webhook(hmac_secret).verify(BODY, headers)["id"] == "evt_1"
    for secret in (old, new):
        verify_v1a(
            decode_verifying_key(public_key_of(secret)),
            "evt_1",
            str(now),
            headers["webhook-signature"],
            BODY,
        )


def test_signing_needs_some_key() -> None:
    with pytest.raises(BadSignature):
        sign_headers([], "evt_1", 1, BODY)
