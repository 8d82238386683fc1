"""A recipient's wallet belongs to one merchant: no merchant learns what another sent."""

import httpx

from tests.fixtures.merchants import MakeMerchant


async def test_a_merchant_sees_only_what_it_sent_to_an_address(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    one, other = await make_merchant(), await make_merchant()
    send = {"platform": "claude", "recipient_email": "shared@example.com"}
    first = await client.post(
        "/topup/send", json={**send, "amount_cents": 700}, headers=one.headers
    )
    assert first.json()["data"]["new_balance_cents"] == 700

    theirs = await client.post(
        "/topup/send", json={**send, "amount_cents": 300}, headers=other.headers
    )
    # The other merchant's reply says nothing of the 700: its own sends only.
    assert theirs.json()["data"]["new_balance_cents"] == 300

    again = await client.post("/topup/send", json={**send, "amount_cents": 5}, headers=one.headers)
    assert again.json()["data"]["new_balance_cents"] == 705

    read = await client.get(f"/topup/{theirs.json()['transaction_id']}", headers=other.headers)
    assert read.json()["data"]["new_balance_cents"] == 300
