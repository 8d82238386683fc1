"""`aitopup keys …` run as a process of its own against the same store the app reads."""

import asyncio
import os
import re
import sys
from pathlib import Path

import httpx
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, table_of
from gateway.values.settings import Settings
from tests.fixtures.commands import aitopup, new_merchant

_K = table_of(ApiKeyRow)


async def test_create_list_revoke(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    name = f"cli-{tmp_path.name}"
    merchant = await new_merchant(settings, tmp_path, name)
    code, out, _ = await aitopup(
        settings, tmp_path, "keys", "create", "--env", "staging", "--merchant", merchant
    )
    assert code == 0
    assert f'merchant {merchant} ("{name}")' in out  # which merchant it acted on
    key = re.search(r"ak_staging_[0-9A-Za-z]{32}", out)
    assert key is not None
    key_id = re.search(r"key (key_[0-9a-z]{24})", out)
    assert key_id is not None
    headers = {"Authorization": f"Bearer {key.group()}"}
    balance = await client.get("/balance", headers=headers)
    assert balance.json()["data"]["balance_cents"] == 100_000  # staging starts funded

    # A second key for the same merchant shares its wallet.
    code, out, _ = await aitopup(
        settings, tmp_path, "keys", "create", "--env", "staging", "--merchant", merchant
    )
    second = re.search(r"ak_staging_[0-9A-Za-z]{32}", out)
    assert second is not None
    assert second.group() != key.group()

    code, listed, _ = await aitopup(settings, tmp_path, "keys", "list")
    assert code == 0
    assert key_id.group(1) in listed
    assert key.group() not in listed  # only the display prefix is ever shown
    assert key.group()[:15] in listed

    code, out, _ = await aitopup(settings, tmp_path, "keys", "revoke", key_id.group(1))
    assert code == 0
    assert f'merchant {merchant} ("{name}"), revoked {key_id.group(1)}' in out
    refused = await client.get("/balance", headers=headers)
    assert refused.json()["code"] == 2004
    still = await client.get("/balance", headers={"Authorization": f"Bearer {second.group()}"})
    assert still.status_code == 200

    code, _, err = await aitopup(settings, tmp_path, "keys", "revoke", "key_nope")
    assert code == 1
    assert "no key" in err


async def test_settings_without_secrets_refuse_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITOPUP_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "keys",
        "list",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode != 0
    assert b"AITOPUP_KEY_PEPPER: Field required" in err and b"Traceback" not in err


async def test_a_merchant_is_named_by_its_id_never_by_its_name(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    """A name is refused, saying to use the id and how to find it, and nothing is made; two
    merchants may share a name, and each command acts on the id it was given."""
    name = f"cli-named-{tmp_path.name}"
    first = await new_merchant(settings, tmp_path, name)
    second = await new_merchant(settings, tmp_path, name)  # a name is a label
    assert first != second
    code, listed, _ = await aitopup(settings, tmp_path, "merchants", "list")
    assert code == 0
    assert f'{first}  "{name}"' in listed and f'{second}  "{name}"' in listed

    for command in (
        ["keys", "create", "--env", "live", "--merchant", name],
        ["users", "invite", "--merchant", name, "--email", "named@example.com"],
    ):
        code, out, err = await aitopup(settings, tmp_path, *command)
        assert code == 2, (command, out, err)
        assert "takes a merchant's id" in err and "aitopup merchants list" in err
        assert "ak_" not in out
    code, after, _ = await aitopup(settings, tmp_path, "merchants", "list")
    assert after == listed  # nothing made
    code, keys, _ = await aitopup(settings, tmp_path, "keys", "list")
    assert name not in keys

    code, out, _ = await aitopup(
        settings, tmp_path, "keys", "create", "--env", "staging", "--merchant", second
    )
    assert code == 0 and f"merchant {second} " in out
    key_id = re.search(r"key (key_[0-9a-z]{24})", out)
    assert key_id is not None
    async with db.read() as conn:
        owner = await conn.scalar(select(_K.c.merchant_id).where(_K.c.id == key_id.group(1)))
    assert owner == second
    code, keys, _ = await aitopup(settings, tmp_path, "keys", "list")
    (line,) = [each for each in keys.splitlines() if each.startswith(key_id.group(1))]
    assert f'{second} ("{name}")' in line  # the list names each key's merchant by id too
