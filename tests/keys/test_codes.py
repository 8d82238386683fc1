import re

from keys import hash_code, mint_redemption_code, mint_voucher_code


def test_voucher_and_redemption_code_formats() -> None:
    assert re.fullmatch(r"ATU-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", mint_voucher_code())
    assert re.fullmatch(r"RDM(-[2-9A-Z]{4}){4}", mint_redemption_code())
    assert len({mint_voucher_code() for _ in range(1000)}) == 1000


def test_code_hash_ignores_case_and_spaces_but_not_the_pepper() -> None:
    code = mint_redemption_code()
    assert hash_code(code, b"p") == hash_code(f"  {code.lower()} ", b"p")
    assert hash_code(code, b"p") != hash_code(code, b"q")
