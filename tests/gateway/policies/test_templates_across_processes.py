"""A change to a policy template holds on every gateway process from the next request: a key
under it, used through one process, is refused by the other the moment the template tightens
through the first, and admitted again when it loosens. Nothing is cached per process: each
request reads its key's template with the key."""

from pathlib import Path

import pytest

from gateway.store.engine import Database
from gateway.values.settings import Settings
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import gateway_processes

SEND = {"platform": "claude", "amount_cents": 300, "recipient_email": "ada@example.com"}


async def test_a_template_change_holds_on_every_process_at_once(
    db: Database, settings: Settings, make_merchant: MakeMerchant, tmp_path: Path
) -> None:
    if db.is_sqlite:
        pytest.skip("several gateway processes share PostgreSQL, not an embedded file")
    owner = await make_merchant()
    async with (
        gateway_processes(settings, tmp_path, 2) as (one, two),
        local_client(timeout=10) as http,
    ):
        made = await http.post(
            f"{one}/policy-templates",
            json={"name": "fleet", "policy": {"max_per_send_cents": 500}},
            headers=owner.headers,
        )
        assert made.status_code == 201, made.text
        template = made.json()["data"]["id"]
        key = await http.post(
            f"{one}/keys", json={"policy": {"template": template}}, headers=owner.headers
        )
        agent = {"Authorization": f"Bearer {key.json()['data']['key']}"}
        for root in (one, two):  # each process has served the key under the template
            assert (await http.post(f"{root}/topup/send", json=SEND, headers=agent)).json()[
                "code"
            ] == 1001

        tightened = await http.patch(
            f"{one}/policy-templates/{template}",
            json={"policy": {"max_per_send_cents": 200}},
            headers=owner.headers,
        )
        assert tightened.status_code == 200, tightened.text
        for root in (two, one):
            refused = await http.post(f"{root}/topup/send", json=SEND, headers=agent)
            assert (refused.status_code, refused.json()["code"]) == (403, 2305), refused.text

        loosened = await http.patch(
            f"{two}/policy-templates/{template}",
            json={"policy": {"max_per_send_cents": None}},
            headers=owner.headers,
        )
        assert loosened.status_code == 200, loosened.text
        for root in (one, two):
            assert (await http.post(f"{root}/topup/send", json=SEND, headers=agent)).json()[
                "code"
            ] == 1001
