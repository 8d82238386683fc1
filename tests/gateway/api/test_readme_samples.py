"""The send's reply as the README and the quick start print it: the keys a real reply carries,
no more and no fewer, so a newcomer's first reply reads as the page said it would."""

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.fixtures.merchants import MakeMerchant

ROOT = Path(__file__).resolve().parents[3]
SEND = {"platform": "claude", "amount_cents": 1000, "recipient_email": "user@example.com"}


def _send_sample(page: Path) -> dict[str, object]:
    """The JSON block after the page's first ``curl … /topup/send``, its elisions (…) made
    strings."""
    text = page.read_text()
    after = text[text.index("/topup/send") :]
    [block] = re.findall(r"```json\n(.*?)```", after, re.S)[:1]
    return dict(json.loads(block.replace("…", "")))


@pytest.mark.parametrize("page", ["README.md", "docs/quickstart.md"])
async def test_the_pages_send_reply_has_a_real_replys_keys(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, page: str
) -> None:
    merchant = await make_merchant()
    reply = await client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert reply.status_code == 200, reply.text
    real = reply.json()
    sample = _send_sample(ROOT / page)
    assert set(sample) == set(real)
    shown = sample["data"]
    assert isinstance(shown, dict)
    assert set(shown) == set(real["data"]), page
    assert shown["mail"] == real["data"]["mail"]
    assert shown["wallet_balance_cents"] == real["data"]["wallet_balance_cents"]
