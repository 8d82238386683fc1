"""``make run``'s demo key: minted on every start for the same demo merchant, found again by the
id this machine wrote, never by its name."""

import asyncio
from pathlib import Path

import pytest

from gateway import devrun
from gateway.cli import create_merchant
from gateway.settings import Settings
from keys import parse_api_key


async def test_the_demo_merchant_is_remembered_by_id_not_found_by_name(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # Someone signed up as "demo" before the first start: that merchant is never used.
    squatter = await asyncio.to_thread(create_merchant, settings, "demo")

    first, key = await asyncio.to_thread(devrun.demo_key, settings)
    assert first.id != squatter.id and first.name == "demo"
    assert devrun.DEMO_MERCHANT_FILE.read_text().strip() == first.id

    again, second_key = await asyncio.to_thread(devrun.demo_key, settings)
    assert again.id == first.id  # the second start finds the same merchant
    assert second_key != key  # and mints a fresh key for it
    assert parse_api_key(second_key).env == "staging"

    # A store that no longer has it (a new database): a new demo merchant, remembered anew.
    devrun.DEMO_MERCHANT_FILE.write_text("mer_gone\n")
    fresh, _ = await asyncio.to_thread(devrun.demo_key, settings)
    assert fresh.id not in {first.id, squatter.id}
    assert devrun.DEMO_MERCHANT_FILE.read_text().strip() == fresh.id
