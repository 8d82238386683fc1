"""A merchant's recipients over the API: balances, top-ups and e-mail state per address, its own
sends only, paged by address."""

import httpx

from tests.fixtures.merchants import MakeMerchant


def send(email: str, cents: int, platform: str = "claude", **more: object) -> dict[str, object]:
    return {"platform": platform, "amount_cents": cents, "recipient_email": email, **more}


async def test_recipients_list_their_balances_topups_and_mail(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live", balance_cents=100_000)
    other = await make_merchant("live", balance_cents=100_000)
    for body in (
        send("a@example.com", 100),
        send("b@example.com", 200),
        send("b@example.com", 300, "gemini"),
        send("c@example.com", 400, notify_recipient=False),
    ):
        assert (await client.post("/topup/send", json=body, headers=merchant.headers)).is_success
    await client.post("/topup/send", json=send("a@example.com", 9999), headers=other.headers)

    listed = await client.get("/recipients", headers=merchant.headers)
    assert listed.status_code == 200, listed.text
    rows = {r["email"]: r for r in listed.json()["data"]}
    assert list(rows) == ["a@example.com", "b@example.com", "c@example.com"]
    assert rows["a@example.com"]["balance_cents"] == 100  # not the other merchant's 9,999
    assert rows["a@example.com"]["topups_count"] == 1
    assert rows["b@example.com"]["balances"] == {"claude": 200, "chatgpt": 0, "gemini": 300}
    assert rows["b@example.com"]["topups_count"] == 2
    assert rows["a@example.com"]["email_state"]["status"] == "queued"
    assert rows["c@example.com"]["email_state"] is None  # notify_recipient: false
    # Of two voucher mails, the latest: its top-up is the address's last.
    b = rows["b@example.com"]
    assert b["email_state"]["transaction_id"] == b["last_topup_id"]

    first = (await client.get("/recipients?limit=2", headers=merchant.headers)).json()
    assert first["meta"] == {"limit": 2, "has_more": True, "next_cursor": "b@example.com"}
    rest = await client.get("/recipients?limit=2&cursor=b@example.com", headers=merchant.headers)
    assert [r["email"] for r in rest.json()["data"]] == ["c@example.com"]

    one = await client.get("/recipients/B@Example.com", headers=merchant.headers)
    assert one.status_code == 200 and one.json()["data"] == rows["b@example.com"]
    theirs = await client.get("/recipients/a@example.com", headers=other.headers)
    assert theirs.json()["data"]["balance_cents"] == 9999
    for path, code in (
        ("/recipients/zed@example.com", 4232),
        ("/recipients/not-an-address", 4232),
        ("/recipients?cursor=nope", 3005),
    ):
        refused = await client.get(path, headers=merchant.headers)
        assert refused.json()["code"] == code, path
