import pytest

from keys import InvalidApiKey, hash_api_key, mint_api_key, parse_api_key


@pytest.mark.parametrize("env", ["staging", "live"])
def test_minted_keys_parse_back(env: str) -> None:
    key = mint_api_key(env)  # type: ignore[arg-type]
    assert key.raw.startswith(f"ak_{env}_")
    assert len(key.raw) == len(f"ak_{env}_") + 32
    assert parse_api_key(key.raw) == key


def test_keys_are_unique_and_hashes_depend_on_the_pepper() -> None:
    a, b = mint_api_key("live"), mint_api_key("live")
    assert a.raw != b.raw
    assert hash_api_key(a, b"pepper-one") != hash_api_key(a, b"pepper-two")
    assert hash_api_key(a, b"pepper-one") == hash_api_key(a, b"pepper-one")
    assert a.raw not in hash_api_key(a, b"pepper-one")


def test_repr_and_prefix_never_show_the_whole_key() -> None:
    key = mint_api_key("staging")
    assert key.raw not in repr(key)
    assert key.raw not in key.display_prefix
    assert key.display_prefix.startswith("ak_staging_")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ak_staging_",
        "ak_test_" + "a" * 32,
        "ak_live_" + "a" * 31,
        "ak_live_" + "a" * 33,
        "ak_live_" + "a" * 31 + "-",
        "sk_live_" + "a" * 32,
        " ak_live_" + "a" * 32,
    ],
)
def test_malformed_keys_are_refused(raw: str) -> None:
    with pytest.raises(InvalidApiKey):
        parse_api_key(raw)
