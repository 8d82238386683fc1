"""Taking back a voucher on the Wallet page: an ``ATU-`` code the merchant sent, handed back by
its recipient, is redeemed through the API's own ``vouchers.redeem`` (once; its amount off the
recipient's balance), the reply shown beside the form; a second try, a code of another merchant
and a malformed one are the API's refusals shown there, changing nothing; an owner's form
(CSRF-checked), which a viewer cannot post."""

import re

import httpx
from starlette.types import ASGIApp

from tests.fixtures.core import asgi_client
from tests.fixtures.dashboard import Account, SignUp, join_as

WALLET = "/wallet"
FORM = "/wallet/vouchers/take-back"
_RAW_KEY = re.compile(r"ak_staging_[0-9A-Za-z]{32}")


async def _voucher(app: ASGIApp, account: Account, cents: int, email: str) -> str:
    made = await account.shown_once(
        "/keys", {"name": "sender", "scopes": "topup:send"}, page="/keys"
    )
    found = _RAW_KEY.search(made.text)
    assert found is not None, made.text
    async with asgi_client(app) as api:
        sent = await api.post(
            "/topup/send",
            headers={"Authorization": f"Bearer {found.group()}"},
            json={"platform": "claude", "amount_cents": cents, "recipient_email": email},
        )
        assert sent.json()["code"] == 1001, sent.text
        code: str = sent.json()["data"]["voucher_code"]
    return code


async def test_a_voucher_is_taken_back_once_on_the_wallet_page(
    app: ASGIApp, sign_up: SignUp, client: httpx.AsyncClient
) -> None:
    owner, other = await sign_up(), await sign_up()
    code = await _voucher(app, owner, 700, "kim@example.com")
    theirs = await _voucher(app, other, 300, "kim@example.com")

    page = await owner.client.get(WALLET)
    assert 'id="take-back"' in page.text
    # Typed loosely (lower case, spaces): the voucher's one form is found.
    done = await owner.post(FORM, {"voucher": code.lower().replace("-", " ")}, page=WALLET)
    assert done.status_code == 200, done.text
    said = re.search(r'<p class="notice" role="status" id="voucher-done">(.*?)</p>', done.text)
    assert said is not None
    assert f"Voucher {code} redeemed: $7.00 of Claude credit taken back from kim@example.com" in (
        said.group(1)
    )
    assert "balance with you is now $0.00" in said.group(1)

    again = await owner.post(FORM, {"voucher": code}, page=WALLET)
    assert again.status_code == 409 and "already redeemed" in again.text
    foreign = await owner.post(FORM, {"voucher": theirs}, page=WALLET)
    assert foreign.status_code == 404 and 'id="voucher-error"' in foreign.text
    malformed = await owner.post(FORM, {"voucher": "RDM-1234"}, page=WALLET)
    assert malformed.status_code == 422 and 'value="RDM-1234"' in malformed.text
    # The other merchant's voucher was not touched: it still redeems there.
    assert (await other.post(FORM, {"voucher": theirs}, page=WALLET)).status_code == 200

    viewer = await join_as(app, owner, "viewer")
    assert 'id="take-back"' not in (await viewer.client.get(WALLET)).text
    assert (await viewer.post(FORM, {"voucher": code}, page=WALLET)).status_code == 403
    forged = await owner.client.post(FORM, data={"voucher": code, "csrf_token": "forged"})
    assert forged.status_code == 403
