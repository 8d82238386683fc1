import base64
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook

from keys import (
    BadSignature,
    decode_webhook_secret,
    new_webhook_secret,
    sign_headers,
    verify_aitopup,
    verify_standard,
)

BODY = json.dumps({"id": "evt_1", "type": "topup.delivered"}).encode()


def test_standard_webhooks_library_verifies_our_headers() -> None:
    secret = new_webhook_secret()
    now = int(time.time())
    headers = sign_headers([decode_webhook_secret(secret)], "evt_1", now, BODY)
    assert Webhook(secret).verify(BODY, headers) == {"id": "evt_1", "type": "topup.delivered"}


def test_aitopup_signature_scheme_round_trips_and_rejects_tampering() -> None:
    key = decode_webhook_secret(new_webhook_secret())
    now = int(time.time())
    header = sign_headers([key], "evt_1", now, BODY)["X-AiTopUp-Signature"]
    assert header.startswith(f"t={now},v1=")
    verify_aitopup(key, header, BODY)
    with pytest.raises(BadSignature):
        verify_aitopup(key, header, BODY + b" ")
    with pytest.raises(BadSignature):
        verify_aitopup(key, header, BODY, now=now + 301)
    with pytest.raises(BadSignature):
        verify_aitopup(decode_webhook_secret(new_webhook_secret()), header, BODY)


def test_rotation_signs_with_both_secrets() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    keys = [decode_webhook_secret(new), decode_webhook_secret(old)]
    now = int(time.time())
    headers = sign_headers(keys, "evt_9", now, BODY)
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
        verify_aitopup(decode_webhook_secret(secret), headers["X-AiTopUp-Signature"], BODY)
        verify_standard(
            decode_webhook_secret(secret), "evt_9", str(now), headers["webhook-signature"], BODY
        )
    assert len(headers["webhook-signature"].split(" ")) == 2


def test_secrets_are_32_random_bytes() -> None:
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert new_webhook_secret() != secret
