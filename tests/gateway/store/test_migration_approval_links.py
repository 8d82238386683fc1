"""Migration 0040: a held send's one-time decision links (the keyed hash of each token, its
approver, its end) and the Telegram bot's tables, as the models describe them; and back."""

from pathlib import Path

import pytest

from tests.fixtures.migrations import database_at, table_names, up_down_up

TABLES = {"approval_links", "telegram_chats", "telegram_link_codes", "telegram_messages"}


async def test_0040_adds_the_approval_links_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0039", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0039", "0040", TABLES, table_names)
    assert after - before == TABLES
