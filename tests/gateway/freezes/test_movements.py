"""What a freeze does to each movement of an environment's money that a credential makes, at the
moment the money moves (docs/fleets.md lists them all):

- an app's charge is refused at the door (2360), and one whose token authenticated before the
  freeze is refused by its debit, nothing written, its idempotency key not spent: the same
  charge runs once, after the unfreeze;
- a managed key's send is refused likewise: the key an app manages is a key of the environment;
- a refund of a charge goes through whichever side is frozen: it only gives back, at most once
  and no more than was paid, to the wallet the charge took it from; and a charge into a frozen
  payee goes through (money coming in is not the frozen wallet's money leaving).

On each store; the sends of the merchant's own keys on every door are in ``test_admission``,
``test_race`` and the doors' tests.
"""

import httpx
import pytest
from sqlalchemy import func, select
from starlette.types import ASGIApp

from gateway.apps import charges
from gateway.auth import door_resource
from gateway.callers import authenticate
from gateway.freezes import hands
from gateway.freezes import service as freezes
from gateway.freezes.schemas import FreezeRequest
from gateway.store.engine import Database
from gateway.store.models import Charge, table_of
from gateway.topup import service as topups
from gateway.topup.schemas import SendRequest
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.charges import FEE, paying_consent
from tests.fixtures.core import TEST_PEPPER
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.oauth import Flow, register_app

_CH = table_of(Charge)
SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "fleet@example.com"}
PRICE = 100  # FEE's and SEND's amount_cents


def _sealer(settings: Settings) -> Sealer:
    return Sealer(settings.secret_key.get_secret_value().encode())


async def _switch(db: Database, settings: Settings, merchant: MerchantKey, on: bool) -> None:
    who = freezes.Freezer(merchant.merchant_id, merchant.env, "test")
    if on:
        await freezes.freeze(db, _sealer(settings), who, FreezeRequest())
    else:
        await freezes.unfreeze(db, _sealer(settings), who, hands.OPERATOR)


async def _charges(db: Database, merchant_id: str) -> int:
    async with db.read() as conn:
        found = select(func.count()).select_from(_CH).where(_CH.c.payer_merchant_id == merchant_id)
        return int((await conn.execute(found)).scalar_one())


async def test_a_charge_is_refused_while_its_payer_is_frozen_even_if_authenticated_before(
    app: ASGIApp,
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    assert FEE["amount_cents"] == SEND["amount_cents"] == PRICE
    paying = await paying_consent(app, client, make_merchant)
    await paying.flow.oauth.aclose()
    caller = await authenticate(
        db, TEST_PEPPER.encode(), paying.token, resource=door_resource(settings)
    )
    before = (await merchant_balance(db, paying.payer), await merchant_balance(db, paying.payee))
    await _switch(db, settings, paying.payer, True)

    at_the_door = await client.post("/charges", json=FEE, headers=paying.headers("seat-1"))
    assert at_the_door.status_code == 423 and at_the_door.json()["code"] == 2360
    with pytest.raises(ApiError) as refused:
        await charges.charge(
            db,
            _sealer(settings),
            caller,
            charges.ChargeCreate.model_validate(FEE),
            idempotency_key="seat-1",
            idempotency_ttl_seconds=60,
            public_base_url=None,
        )
    assert refused.value.code == Code.ENVIRONMENT_FROZEN
    after = (await merchant_balance(db, paying.payer), await merchant_balance(db, paying.payee))
    assert after == before
    assert await _charges(db, paying.payer.merchant_id) == 0

    await _switch(db, settings, paying.payer, False)
    made = await client.post("/charges", json=FEE, headers=paying.headers("seat-1"))
    assert made.status_code == 201, made.text
    assert await merchant_balance(db, paying.payer) == before[0] - PRICE
    assert await _charges(db, paying.payer.merchant_id) == 1
    await assert_ledger_balanced(db)


async def test_a_refund_gives_back_whichever_side_is_frozen(
    app: ASGIApp,
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    paying = await paying_consent(app, client, make_merchant)
    await paying.flow.oauth.aclose()
    # A charge into a frozen payee goes through: money in is not the frozen wallet's leaving.
    await _switch(db, settings, paying.payee, True)
    made = [
        (await client.post("/charges", json=FEE, headers=paying.headers(f"seat-{n}"))).json()
        for n in (1, 2)
    ]
    assert [m["code"] for m in made] == [1004, 1004], made
    await _switch(db, settings, paying.payee, False)
    start = (await merchant_balance(db, paying.payer), await merchant_balance(db, paying.payee))

    # The payer frozen: its app's token is refused, the payee refunds into the frozen wallet.
    await _switch(db, settings, paying.payer, True)
    first = f"/charges/{made[0]['data']['id']}/refund"
    assert (await client.post(first, json={}, headers=paying.headers())).json()["code"] == 2360
    given = await client.post(first, json={}, headers=paying.payee.headers)
    assert given.status_code == 200, given.text
    await _switch(db, settings, paying.payer, False)

    # The payee frozen: the app refunds out of it, back to the payer it came from.
    await _switch(db, settings, paying.payee, True)
    second = f"/charges/{made[1]['data']['id']}/refund"
    assert (await client.post(second, json={}, headers=paying.payee.headers)).json()["code"] == 2360
    given = await client.post(second, json={}, headers=paying.headers())
    assert given.status_code == 200, given.text
    again = await client.post(second, json={}, headers=paying.headers())
    assert again.json()["code"] == Code.CHARGE_NOT_REFUNDABLE  # once, frozen or not

    fee = PRICE
    end = (await merchant_balance(db, paying.payer), await merchant_balance(db, paying.payee))
    assert end == (start[0] + 2 * fee, start[1] - 2 * fee)
    await assert_ledger_balanced(db)


async def test_a_managed_keys_send_is_refused_while_frozen_even_if_authenticated_before(
    app: ASGIApp,
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_merchant: MakeMerchant,
) -> None:
    owner = await make_merchant("staging")
    scopes = ["topup:send", "topup:read", "keys:manage"]
    registered = await register_app(client, owner, scopes=scopes)
    flow = Flow(app, registered["id"], registered["client_secret"])
    person = await sign_up_on(dashboard_client(app))
    tokens = await flow.tokens(person, scope=" ".join(scopes), form={"scopes": scopes})
    await flow.oauth.aclose()
    token = {"Authorization": f"Bearer {tokens['access_token']}"}
    policy = {"scopes": ["topup:send", "topup:read"]}
    made = await client.post(
        "/apps/me/key", json={"name": "server", "policy": policy}, headers=token
    )
    assert made.status_code == 201, made.text
    managed = {"Authorization": f"Bearer {made.json()['data']['key']}"}
    merchant_id = (await client.get("/me", headers=token)).json()["data"]["merchant"]["id"]
    payer = await make_merchant("staging", merchant_id=merchant_id)
    caller = await authenticate(db, TEST_PEPPER.encode(), made.json()["data"]["key"])
    balance = await merchant_balance(db, payer)

    await _switch(db, settings, payer, True)
    at_the_door = await client.post("/topup/send", json=SEND, headers=managed)
    assert at_the_door.status_code == 423 and at_the_door.json()["code"] == 2360
    with pytest.raises(ApiError) as refused:
        await topups.send(
            db,
            _sealer(settings),
            caller,
            SendRequest.model_validate(SEND),
            idempotency_key="late",
            idempotency_ttl_seconds=60,
        )
    assert refused.value.code == Code.ENVIRONMENT_FROZEN
    assert await merchant_balance(db, payer) == balance

    await _switch(db, settings, payer, False)
    sent = await client.post(
        "/topup/send", json=SEND, headers={**managed, "Idempotency-Key": "late"}
    )
    assert sent.json()["code"] == 1001, sent.text
    assert await merchant_balance(db, payer) == balance - PRICE
    await assert_ledger_balanced(db)
