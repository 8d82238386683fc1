import pytest

from keys import InvalidCredential, credential_kind, hash_credential, mint_credential

PEPPER = b"p" * 32


def test_tokens_name_their_environment_and_codes_do_not() -> None:
    access = mint_credential("oat", "live")
    assert access.startswith("oat_live_") and len(access) == len("oat_live_") + 43
    assert credential_kind(access) == ("oat", "live")
    assert credential_kind(mint_credential("ort", "staging")) == ("ort", "staging")
    code = mint_credential("oac")
    assert credential_kind(code) == ("oac", None)
    with pytest.raises(InvalidCredential):
        mint_credential("oac", "live")
    with pytest.raises(InvalidCredential):
        mint_credential("oat")


@pytest.mark.parametrize(
    "raw",
    ["", "oat_live_short", "oat_prod_" + "a" * 43, "oac_live_" + "a" * 43, "ak_live_" + "a" * 32],
)
def test_anything_else_is_no_credential(raw: str) -> None:
    with pytest.raises(InvalidCredential):
        credential_kind(raw)


def test_credentials_are_kept_as_peppered_hmacs() -> None:
    token = mint_credential("oat", "staging")
    digest = hash_credential(token, PEPPER)
    assert len(digest) == 64 and token not in digest
    assert digest == hash_credential(token, PEPPER)
    assert digest != hash_credential(token, b"q" * 32)
    assert mint_credential("oat", "staging") != token
