"""`aitopup plans` run as a real process: lists plans, makes and changes one by the admin API's
rule (refusing what it refuses, nothing made or changed; a live plan's prices at the stood-in
Stripe), audited as the actor cli with the admin API's actions."""

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway import cli
from gateway.store.engine import Database
from gateway.store.models import AuditRecord, Plan, table_of
from gateway.values.settings import Settings
from tests.fixtures.commands import aitopup
from tests.fixtures.stripe import StripeStandIn

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
    assert row.credits_expire is False
    assert (audited.actor, audited.action) == ("cli", "plans.create")

    code, out, err = await aitopup(settings, tmp_path, "plans", "list", "--env", "staging")
    assert code == 0, err
    assert any(line.startswith(f"{plan_id}  staging  CLI Pro") for line in out.splitlines())
    code, out, _ = await aitopup(settings, tmp_path, "plans", "list", "--env", "live")
    assert plan_id not in out


def _refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """What ``aitopup ARGS`` says on refusing with code 2 (argparse's or the rule's)."""
    code: int | str | None
    try:
        code = cli.main(args)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    return err


async def _plan_and_audit(db: Database, plan_id: str) -> tuple[Any, list[tuple[str, str]]]:
    async with db.read() as conn:
        row = (await conn.execute(select(_PL).where(_PL.c.id == plan_id))).one()
        audited = await conn.execute(
            select(_A.c.actor, _A.c.action).where(_A.c.target_id == plan_id).order_by(_A.c.id)
        )
        return row, [(a.actor, a.action) for a in audited]


async def test_a_plan_is_changed_by_the_admin_rule_and_a_new_live_price_made_at_stripe(
    db: Database,
    stripe_stood_in_settings: Settings,
    stripe_stand_in: StripeStandIn,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = stripe_stood_in_settings
    code, out, err = await aitopup(
        settings, tmp_path, "plans", "create", "--env", "live", "--name", "CLI Team",
        "--price-monthly", "1500", "--price-yearly", "15000", "--credits", "2000",
        "--feature", "Chat",
    )  # fmt: skip
    assert code == 0, err
    plan_id = out.split()[0]
    made, _ = await _plan_and_audit(db, plan_id)
    assert made.stripe_product_id in stripe_stand_in.products
    assert stripe_stand_in.prices[made.stripe_price_monthly_id]["unit_amount"] == 1500
    prices = len(stripe_stand_in.prices)

    update = ["plans", "update", plan_id]
    code, _, err = await aitopup(settings, tmp_path, *update, "--price-monthly", "49")
    assert code == 2 and "aitopup plans update: price_monthly" in err, err  # Stripe's least
    for bad in (
        [],  # nothing to change
        ["--price-yearly", "ten"],
        ["--credits-included", "0"],
        ["--name", ""],
        ["--feature", "ok", "--feature", " "],
        ["--feature", "x", "--no-features"],
        ["--active", "--inactive"],
        ["--credits-expire", "--credits-keep"],
    ):
        # Refused before the store is opened: in this process, as fast.
        assert "aitopup plans update" in _refused(capsys, *update, *bad), bad
    # A plan's environment never changes.
    assert "unrecognized arguments: --env" in _refused(capsys, *update, "--env", "staging")
    missing = await aitopup(settings, tmp_path, "plans", "update", "plan_missing", "--inactive")
    assert missing[0] == 1 and "Plan not found" in missing[2], missing
    unchanged, audited = await _plan_and_audit(db, plan_id)
    assert unchanged == made
    assert audited == [("cli", "plans.create")]
    assert len(stripe_stand_in.prices) == prices

    code, out, err = await aitopup(
        settings, tmp_path, *update, "--price-monthly", "1700", "--name", "CLI Team+",
        "--feature", "Chat", "--feature", "Priority support", "--inactive",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith(f"{plan_id}  live  CLI Team+: 1700 a month, 15000 a year, 2000 ")
    assert "(off sale, Stripe " in out
    changed, audited = await _plan_and_audit(db, plan_id)
    assert (changed.name, changed.price_monthly, changed.active) == ("CLI Team+", 1700, False)
    assert changed.features == ["Chat", "Priority support"]
    assert changed.credits_included == 2000 and changed.description == ""
    # Stripe's prices never change: the new one is a new price, the yearly one kept.
    assert changed.stripe_price_monthly_id != made.stripe_price_monthly_id
    assert stripe_stand_in.prices[changed.stripe_price_monthly_id]["unit_amount"] == 1700
    assert stripe_stand_in.prices[changed.stripe_price_monthly_id]["product"] == (
        made.stripe_product_id
    )
    assert changed.stripe_price_yearly_id == made.stripe_price_yearly_id
    assert changed.stripe_product_id == made.stripe_product_id
    assert stripe_stand_in.products[made.stripe_product_id]["name"] == "CLI Team+"
    assert audited == [("cli", "plans.create"), ("cli", "plans.update")]

    code, out, err = await aitopup(
        settings, tmp_path, *update, "--no-features", "--active", "--credits-included", "2500",
        "--credits-expire",
    )  # fmt: skip
    assert code == 0, err
    assert "2500 credited a period, lapsing at its end (on sale" in out
    cleared, _ = await _plan_and_audit(db, plan_id)
    assert (cleared.features, cleared.active, cleared.credits_included) == ([], True, 2500)
    assert cleared.credits_expire is True
    assert cleared.stripe_price_monthly_id == changed.stripe_price_monthly_id  # no new price
