"""`aitopup keys create --name --policy`, `keys list` with names and scopes, and `keys policy`,
run as real processes against the store the app reads."""

import json
import re
from pathlib import Path

import httpx

from gateway.values.settings import Settings
from tests.fixtures.commands import aitopup, new_merchant


def _key(out: str) -> tuple[str, str]:
    raw = re.search(r"ak_staging_[0-9A-Za-z]{32}", out)
    key_id = re.search(r"key (key_[0-9a-z]{24})", out)
    assert raw is not None and key_id is not None, out
    return key_id.group(1), raw.group()


async def test_a_key_with_a_name_and_a_policy_listed_and_changed(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    merchant = await new_merchant(settings, tmp_path, f"cli-policy-{tmp_path.name}")
    code, out, _ = await aitopup(
        settings, tmp_path, "keys", "create", "--env", "staging", "--merchant", merchant
    )
    assert code == 0
    first_id, first = _key(out)
    policy = {"scopes": ["topup:read"], "limits": [{"amount_cents": 900, "interval": "daily"}]}
    code, out, _ = await aitopup(
        settings,
        tmp_path,
        "keys",
        "create",
        "--env",
        "staging",
        "--merchant",
        merchant,
        "--name",
        "reader bot",
        "--policy",
        json.dumps(policy),
    )
    assert code == 0, out
    reader_id, reader = _key(out)

    # The operator's first key may do everything, making keys too; the reader may read.
    made = await client.get(f"/keys/{reader_id}", headers={"Authorization": f"Bearer {first}"})
    assert made.status_code == 200, made.text
    assert made.json()["data"]["name"] == "reader bot"
    assert made.json()["data"]["policy"]["limits"] == policy["limits"]
    refused = await client.get("/keys", headers={"Authorization": f"Bearer {reader}"})
    assert refused.json()["code"] == 2301

    code, listed, _ = await aitopup(settings, tmp_path, "keys", "list")
    assert code == 0
    lines = {line.split()[0]: line for line in listed.splitlines()}
    assert 'name="reader bot"' in lines[reader_id] and "scopes=topup:read " in lines[reader_id]
    assert (
        "scopes=topup:send,topup:read,webhooks,billing,keys,approvals,fulfilment,billing:card,"
        "payments:send " in lines[first_id]
    )
    assert reader not in listed and first not in listed

    code, out, _ = await aitopup(
        settings, tmp_path, "keys", "policy", reader_id, '{"scopes": ["topup:read", "keys"]}'
    )
    assert code == 0, out
    assert json.loads(out.split(": ", 1)[1])["scopes"] == ["topup:read", "keys"]
    own = await client.get(f"/keys/{reader_id}", headers={"Authorization": f"Bearer {reader}"})
    assert own.status_code == 200, own.text
    # The whole policy was replaced: the limit went with it.
    assert own.json()["data"]["policy"]["limits"] == []


async def test_a_bad_policy_or_key_changes_nothing(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    merchant = await new_merchant(settings, tmp_path, f"cli-bad-{tmp_path.name}")
    code, out, _ = await aitopup(
        settings, tmp_path, "keys", "create", "--env", "staging", "--merchant", merchant
    )
    key_id, raw = _key(out)
    headers = {"Authorization": f"Bearer {raw}"}
    before = (await client.get(f"/keys/{key_id}", headers=headers)).json()["data"]

    for bad in ('{"scopes": ["root"]}', '{"max_per_send_cents": -1}', "not json", "[]"):
        code, out, err = await aitopup(settings, tmp_path, "keys", "policy", key_id, bad)
        assert code == 2, (bad, out, err)
        assert "the policy is not valid" in err
        code, out, err = await aitopup(
            settings,
            tmp_path,
            "keys",
            "create",
            "--env",
            "staging",
            "--merchant",
            merchant,
            "--policy",
            bad,
        )
        assert code == 2 and "ak_" not in out
        assert "the policy is not valid" in err
    code, _, err = await aitopup(settings, tmp_path, "keys", "policy", "key_nope", "{}")
    assert code == 1 and "no key key_nope" in err
    after = (await client.get(f"/keys/{key_id}", headers=headers)).json()["data"]
    # Unchanged but for ``usage``, which counts requests, and ``last_used_at``, which a request
    # moves once a ``last_used.RESOLUTION_SECONDS`` (a loaded machine can take that long here).
    unused = {"usage": None, "last_used_at": None}
    assert {**after, **unused} == {**before, **unused}
