"""`aitopup plans` run as a real process: lists plans, makes one by the admin API's rule
(refusing what it refuses, nothing made), audited as the actor cli."""

from pathlib import Path

from sqlalchemy import func, select

from gateway.store.db import Database
from gateway.store.models import AuditRecord, Plan, table_of
from gateway.values.settings import Settings
from tests.gateway.test_cli import aitopup

_PL = table_of(Plan)
_A = table_of(AuditRecord)


async def _plans(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(_PL))).scalar_one())


async def test_plans_are_made_by_the_admin_rule_and_listed(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    before = await _plans(db)
    base = ["plans", "create", "--env", "staging", "--name", "CLI Pro"]
    prices = ["--price-monthly", "900", "--price-yearly", "9000"]
    for bad in (
        [*prices, "--credits", "0"],
        ["--price-monthly", "-1", "--price-yearly", "9000", "--credits", "5"],
        [*prices, "--credits", "5", "--feature", ""],
    ):
        code, _, err = await aitopup(settings, tmp_path, *base, *bad)
        assert code == 2, err
        assert "aitopup plans create" in err
    assert await _plans(db) == before

    code, out, err = await aitopup(
        settings, tmp_path, *base, *prices, "--credits", "1200", "--feature", "Priority support"
    )
    assert code == 0, err
    plan_id = out.split()[0]
    assert plan_id.startswith("plan_")
    assert "CLI Pro: 900 a month, 9000 a year, 1200 credited a period (on sale)" in out
    async with db.read() as conn:
        row = (await conn.execute(select(_PL).where(_PL.c.id == plan_id))).one()
        audited = (await conn.execute(select(_A).where(_A.c.target_id == plan_id))).one()
    assert (row.env, row.features, row.credits_included) == ("staging", ["Priority support"], 1200)
    assert audited.actor == "cli"

    code, out, err = await aitopup(settings, tmp_path, "plans", "list", "--env", "staging")
    assert code == 0, err
    assert any(line.startswith(f"{plan_id}  staging  CLI Pro") for line in out.splitlines())
    code, out, _ = await aitopup(settings, tmp_path, "plans", "list", "--env", "live")
    assert plan_id not in out
