import re

import pytest

import keys.codes
from keys import hash_code, mint_redemption_code, mint_voucher_code

LIVE = re.compile(r"ATU-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}")
STAGING = re.compile(r"ATU-TEST-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}")


def test_voucher_and_redemption_code_formats() -> None:
    assert LIVE.fullmatch(mint_voucher_code("live"))
    assert re.fullmatch(r"RDM(-[2-9A-Z]{4}){4}", mint_redemption_code())
    assert len({mint_voucher_code("live") for _ in range(1000)}) == 1000
    assert len({mint_voucher_code("staging") for _ in range(1000)}) == 1000


def test_a_staging_voucher_is_told_apart_from_a_live_one_at_a_glance() -> None:
    staging = [mint_voucher_code("staging") for _ in range(200)]
    live = [mint_voucher_code("live") for _ in range(200)]
    assert all(STAGING.fullmatch(code) for code in staging)
    assert not any(code.startswith("ATU-TEST") or STAGING.fullmatch(code) for code in live)


def test_a_live_draw_that_spells_test_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter(["ATU-TEST-ABCD-EFGH", "ATU-TEST-2345-6789", "ATU-WXYZ-ABCD-EFGH"])
    monkeypatch.setattr(keys.codes, "_groups", lambda prefix, groups: next(draws))
    assert mint_voucher_code("live") == "ATU-WXYZ-ABCD-EFGH"


def test_code_hash_ignores_case_and_spaces_but_not_the_pepper() -> None:
    code = mint_redemption_code()
    assert hash_code(code, b"p") == hash_code(f"  {code.lower()} ", b"p")
    assert hash_code(code, b"p") != hash_code(code, b"q")


def test_a_voucher_for_no_known_environment_is_refused() -> None:
    with pytest.raises(ValueError, match="env"):
        mint_voucher_code("production")


def test_a_voucher_has_one_form_however_it_is_typed() -> None:
    from keys import canonical_voucher

    for env in ("live", "staging"):
        code = mint_voucher_code(env)
        squeezed = code.replace("-", "")
        for typed in (code, code.lower(), f"  {squeezed} ", code.replace("-", " - "), squeezed):
            assert canonical_voucher(typed) == code
    for bad in ("", "ATU", "ATU-2222-3333-444", "ATU-2222-3333-4444-5", "ATU-0000-3333-4444",
                "RDM-2222-3333-4444", "ATU-TEST-2222-3333", "XATU-2222-3333-4444"):  # fmt: skip
        assert canonical_voucher(bad) is None, bad


def test_a_lookup_digest_is_keyed_and_not_the_seal() -> None:
    from keys import Sealer

    one, other = Sealer(b"s" * 32), Sealer(b"t" * 32)
    code = mint_voucher_code("live")
    assert one.lookup(code) == one.lookup(code)
    assert one.lookup(code) != other.lookup(code)
    assert one.lookup(code) != one.lookup(mint_voucher_code("live"))
    assert re.fullmatch(r"[0-9a-f]{64}", one.lookup(code))
    assert code not in one.lookup(code)
