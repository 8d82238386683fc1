"""`aitopup checkin config` run as a real process: prints both environments' settings, sets
one by the same rule as the admin API (refusing what it refuses, nothing changed), audited."""

from pathlib import Path

import httpx
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import AuditRecord, CheckInConfig, table_of
from gateway.values.settings import Settings
from tests.fixtures.commands import aitopup
from tests.fixtures.merchants import MakeMerchant

_CFG = table_of(CheckInConfig)
_A = table_of(AuditRecord)


async def test_checkin_config_prints_sets_and_refuses(
    client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    settings: Settings,
    tmp_path: Path,
    checkin_config_restored: None,
) -> None:
    code, out, err = await aitopup(settings, tmp_path, "checkin", "config")
    assert code == 0, err
    assert out.splitlines() == [
        "staging: on, 10 to 100 cents (default)",
        "live: off, 10 to 100 cents (default)",
    ]

    for bad in (["--min", "9", "--max", "3"], ["--min", "0", "--max", "3"], ["--min", "1"]):
        code, _, err = await aitopup(
            settings, tmp_path, "checkin", "config", "--env", "live", "--enabled", *bad
        )
        assert code == 2, err
        assert "aitopup checkin config" in err
    async with db.read() as conn:
        assert (await conn.execute(select(_CFG))).first() is None

    code, out, err = await aitopup(
        settings,
        tmp_path,
        "checkin",
        "config",
        "--env",
        "live",
        "--enabled",
        "--min",
        "4",
        "--max",
        "4",
    )
    assert code == 0, err
    assert out.splitlines()[1].startswith("live: on, 4 to 4 cents (")
    merchant = await make_merchant("live")
    reply = await client.post("/checkin", headers=merchant.headers)
    assert (reply.json()["code"], reply.json()["data"]["amount_cents"]) == (1130, 4)
    async with db.read() as conn:
        audited = await conn.execute(
            select(_A.c.actor, _A.c.target_id, _A.c.details).where(
                _A.c.action == "checkin.config.set", _A.c.actor == "cli"
            )
        )
        rows = [tuple(r) for r in audited]
    assert ("cli", "live", {"env": "live", "enabled": True, "min_cents": 4, "max_cents": 4}) in rows
