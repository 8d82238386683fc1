"""`aitopup freeze` and `aitopup unfreeze` run as real processes: the same kill switch as
``POST /freeze``, the operator named as who pulled it; an unknown merchant changes nothing."""

from pathlib import Path

import httpx

from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.commands import aitopup
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import events_of

SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "cli@example.com"}


async def test_the_cli_freezes_and_unfreezes_a_merchants_environment(
    client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    settings: Settings,
    tmp_path: Path,
) -> None:
    merchant = await make_merchant("live", balance_cents=1_000)
    code, out, err = await aitopup(
        settings, tmp_path, "freeze", "--merchant", merchant.merchant_id, "--env", "live"
    )
    assert code == 0, err
    assert out.startswith(f"{merchant.merchant_id} live: frozen since ")
    refused = await client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert refused.json()["code"] == 2360
    [event] = await events_of(db, merchant.merchant_id, "environment.frozen")
    assert event["data"]["by"] == "the operator (cli)"

    code, out, err = await aitopup(
        settings, tmp_path, "unfreeze", "--merchant", merchant.merchant_id, "--env", "live"
    )
    assert (code, out.strip()) == (0, f"{merchant.merchant_id} live: not frozen"), err
    sent = await client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert sent.json()["code"] == 1001

    code, _, err = await aitopup(
        settings, tmp_path, "freeze", "--merchant", "mer_nobody", "--env", "live"
    )
    assert code == 2 and "aitopup freeze: no merchant has the id" in err
