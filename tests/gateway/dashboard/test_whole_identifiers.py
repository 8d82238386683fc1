"""A top-up's id is shown whole, in its own element, wherever a page names one: the overview's
recent list and the wallet's ledger, as the top-ups pages do."""

import re

from starlette.types import ASGIApp

from tests.fixtures.core import asgi_client
from tests.fixtures.dashboard import SignUp

_RAW_KEY = re.compile(r"ak_staging_[0-9A-Za-z]{32}")


async def test_the_overview_and_the_ledger_show_a_top_ups_id_whole(
    app: ASGIApp, sign_up: SignUp
) -> None:
    account = await sign_up()
    made = await account.shown_once("/keys", {"name": "ids", "scopes": "topup:send"}, page="/keys")
    found = _RAW_KEY.search(made.text)
    assert found is not None
    async with asgi_client(app) as api:
        sent = await api.post(
            "/topup/send",
            headers={"Authorization": f"Bearer {found.group()}"},
            json={"platform": "claude", "amount_cents": 250, "recipient_email": "w@example.com"},
        )
    assert sent.status_code == 200, sent.text
    txn = sent.json()["transaction_id"]
    whole = f'<a href="/dashboard/topups/{txn}"><code class="id">{txn}</code></a>'

    overview = await account.client.get("/")
    assert overview.status_code == 200
    assert whole in overview.text
    wallet = await account.client.get("/wallet")
    assert wallet.status_code == 200
    assert whole in wallet.text
