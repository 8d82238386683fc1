"""Migration 0045: policy templates, the record of their changes, and the template a key names,
as the models describe them; and back."""

from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect

from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"policy_templates", "policy_template_changes"}
CHANGED = {*TABLES, "api_keys"}


def _look(conn: Connection) -> set[str]:
    inspected = inspect(conn)
    found = {
        f"{table}.{c['name']}"
        for table in TABLES & set(inspected.get_table_names())
        for c in inspected.get_columns(table)
    }
    found |= {
        f"api_keys.{c['name']}"
        for c in inspected.get_columns("api_keys")
        if c["name"] == "template_id"
    }
    return found


async def test_0045_adds_policy_templates_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0044", database_url, tmp_path, request) as db:
        before, after = await up_down_up(db, "0044", "0045", CHANGED, _look)
    assert before == set()
    assert "api_keys.template_id" in after
    assert {"policy_templates.policy", "policy_template_changes.policy_before"} <= after
