"""The product hashes passwords at argon2-cffi's RFC 9106 low-memory profile; the tests' own
process hashes at the cheapest (``tests.fixtures.passwords``), and a stored hash is checked at
the cost it carries."""

import pytest
from argon2 import extract_parameters
from argon2.profiles import RFC_9106_LOW_MEMORY

from gateway.accounts import passwords
from tests.fixtures.passwords import CHEAP, PRODUCT


async def test_the_product_hashes_at_rfc_9106_s_low_memory_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(passwords, "_HASHER", PRODUCT)
    stored = await passwords.hash_password("correct horse battery staple")
    assert passwords.is_argon2id(stored)
    assert extract_parameters(stored) == RFC_9106_LOW_MEMORY
    # Checked at its own cost, whichever hasher the process holds.
    monkeypatch.setattr(passwords, "_HASHER", CHEAP)
    assert await passwords.verify_password(stored, "correct horse battery staple")
    assert not await passwords.verify_password(stored, "correct horse battery stapler")
