"""`aitopup channels` run as a real process: lists the channels, sets one by the admin API's rule
(credentials read from a file, never echoed; refusals as the API's), audited as the actor cli."""

import json
from pathlib import Path

from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import AuditRecord, table_of
from gateway.values.settings import Settings
from tests.fixtures.commands import aitopup

_A = table_of(AuditRecord)
SECRET = "sk_test_cli_0123456789"


async def test_channels_are_listed_and_set_by_the_admin_rule(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    code, out, err = await aitopup(settings, tmp_path, "channels", "list")
    assert code == 0, err
    assert "stripe  Stripe  (checkout, invoice)" in out
    assert "  staging: enabled, credentials set, through sandbox (default)" in out

    code, _, err = await aitopup(
        settings, tmp_path, "channels", "set", "sandbox", "live", "--enabled"
    )
    assert code == 1 and "not available" in err
    (tmp_path / "bad.json").write_text("[1")
    code, _, err = await aitopup(
        settings, tmp_path, "channels", "set", "stripe", "staging", "--enabled",
        "--credentials-from", "bad.json",
    )  # fmt: skip
    assert code == 2 and "not a JSON object" in err

    # Staging pays through the sandbox whatever is saved: a harmless row to set.
    (tmp_path / "stripe.json").write_text(json.dumps({"secret_key": SECRET}))
    code, out, err = await aitopup(
        settings, tmp_path, "channels", "set", "stripe", "staging", "--enabled",
        "--credentials-from", "stripe.json",
    )  # fmt: skip
    assert code == 0, err
    assert "  staging: enabled, credentials set, through sandbox (saved)" in out
    assert SECRET not in out + err
    async with db.read() as conn:
        audited = (
            await conn.execute(select(_A).where(_A.c.action == "channels.set", _A.c.actor == "cli"))
        ).first()
    assert audited is not None and audited.details["credentials"] == ["secret_key"]
