import pytest

from keys import Sealer, SealError


def test_seal_round_trips_and_hides_the_plaintext() -> None:
    sealer = Sealer(b"0123456789abcdef0123456789abcdef")
    token = sealer.seal("whsec_secret", context="we_1")
    assert "whsec_secret" not in token
    assert sealer.open(token, context="we_1") == "whsec_secret"
    assert sealer.seal("x") != sealer.seal("x")  # fresh nonce each time


def test_wrong_key_context_or_tampering_cannot_open() -> None:
    sealer = Sealer(b"0123456789abcdef0123456789abcdef")
    token = sealer.seal("voucher", context="txn_1")
    with pytest.raises(SealError):
        Sealer(b"another-key-0123456789abcdef").open(token, context="txn_1")
    with pytest.raises(SealError):
        sealer.open(token, context="txn_2")
    with pytest.raises(SealError):
        sealer.open(token[:-4] + "AAAA", context="txn_1")
    with pytest.raises(SealError):
        sealer.open("v0:" + token[3:], context="txn_1")
