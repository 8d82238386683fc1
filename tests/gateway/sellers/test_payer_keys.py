"""A merchant's own payer key (``/payments/payer-keys``), on both stores: made or imported, its
address shown and its secret never, sealed at rest; a live wallet's x402 payment signed by it
(the signature recovers to its address) and its use asked of the chain for that address; gone,
live is refused again; each where the merchant chose its own instrument (the wallet then not
debited); a staging key in place of the derived one; bad input refused with
nothing kept; the merchant's own act alone; two racing to set the first, one set; and a made-up
protocol's keyed payer through the same routes, which name no protocol."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_keys.datatypes import Signature
from sqlalchemy import select
from starlette.types import ASGIApp
from x402.http import decode_payment_signature_header, encode_payment_required_header
from x402.mechanisms.evm.eip712 import hash_eip3009_authorization
from x402.mechanisms.evm.types import ExactEIP3009Authorization
from x402.mechanisms.evm.utils import get_evm_chain_id
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo

from gateway.protocols import payer_keys as stored
from gateway.protocols import registry
from gateway.protocols.base import Made
from gateway.protocols.base import PayerKey as Key
from gateway.protocols.x402.payer import X402Payer, payer_address
from gateway.standins.x402 import X402FacilitatorStandIn
from gateway.store.engine import Database
from gateway.store.models import PayerKey, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, local_client, running_app
from tests.fixtures.dashboard import Account as Person
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.merchants import MakeMerchant, MerchantKey, merchant_balance
from tests.fixtures.oauth import Flow, register_app
from tests.fixtures.payers import wallet_of
from tests.fixtures.policies import set_policy
from tests.fixtures.stand_ins import served
from tests.fixtures.tally_payer import TallyPayer

PATH = "/payments/payer-keys"
SELLER = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
CREATED, DELETED, VALIDATION_FAILED, EXISTS, NOT_FOUND = 1004, 1005, 3001, 4651, 4650
UNSUPPORTED = 4504
_K = table_of(PayerKey)


@pytest.fixture
async def facilitator() -> AsyncIterator[X402FacilitatorStandIn]:
    async with served(X402FacilitatorStandIn()) as stand_in:
        yield stand_in


@pytest.fixture
def chained(settings: Settings, facilitator: X402FacilitatorStandIn) -> Settings:
    """Both environments' wallets ask the stand-in's chain; live pays on its network."""
    rpc = f"{facilitator.url}/rpc"
    return settings.model_copy(update={"x402_rpc_url": rpc, "x402_staging_rpc_url": rpc})


@pytest.fixture
async def paying_client(chained: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(chained) as app, asgi_client(app) as http:
        yield http


def _need(settings: Settings, env: str) -> PaymentRequirements:
    live = env == "live"
    return PaymentRequirements(
        scheme="exact",
        network=settings.x402_network if live else "eip155:84532",
        asset=settings.x402_asset,
        amount="3000000",  # 300 cents
        pay_to=SELLER,
        max_timeout_seconds=300,
        extra={"name": settings.x402_asset_name, "version": settings.x402_asset_version},
    )


def _offer(need: PaymentRequirements) -> str:
    required = PaymentRequired(
        x402_version=2, resource=ResourceInfo(url="https://seller.example/r"), accepts=[need]
    )
    return encode_payment_required_header(required)


async def _merchant(
    make_merchant: MakeMerchant, db: Database, env: str, *scopes: str
) -> MerchantKey:
    merchant = await make_merchant(env, balance_cents=10_000)
    await set_policy(db, merchant.key_id, {"scopes": list(scopes or ("billing",))})
    return merchant


async def _rows(db: Database, merchant_id: str) -> list[Any]:
    async with db.read() as conn:
        return list(await conn.execute(select(_K).where(_K.c.merchant_id == merchant_id)))


def _signer(signed: Any) -> str:
    """The address whose key signed the credential's EIP-3009 authorization."""
    auth, need = signed.payload["authorization"], signed.accepted
    authorization = ExactEIP3009Authorization(
        from_address=auth["from"],
        to=auth["to"],
        value=auth["value"],
        valid_after=auth["validAfter"],
        valid_before=auth["validBefore"],
        nonce=auth["nonce"],
    )
    digest = hash_eip3009_authorization(
        authorization,
        get_evm_chain_id(need.network),
        need.asset,
        need.extra["name"],
        need.extra["version"],
    )
    raw = bytes.fromhex(signed.payload["signature"].removeprefix("0x"))
    v = raw[64] - 27 if raw[64] >= 27 else raw[64]
    found: str = (
        Signature(raw[:64] + bytes([v])).recover_public_key_from_msg_hash(digest)
    ).to_checksum_address()
    return found


async def test_a_made_key_shows_its_address_alone_and_is_kept_sealed(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, settings: Settings
) -> None:
    merchant = await _merchant(make_merchant, db, "live")
    made = await client.post(PATH, json={"protocol": "x402"}, headers=merchant.headers)
    assert made.status_code == 201, made.text
    assert made.json()["code"] == CREATED
    data = made.json()["data"]
    assert set(data) == {"protocol", "env", "address", "created_at"}
    assert (data["protocol"], data["env"]) == ("x402", "live")
    address = data["address"]
    assert address.startswith("0x") and len(address) == 42

    [row] = await _rows(db, merchant.merchant_id)
    assert row.address == address and row.key_sealed.startswith("v1:")
    opened = await _opened(db, settings, merchant)
    assert Account.from_key(opened).address == address
    assert opened.removeprefix("0x") not in str(tuple(row)).lower()
    assert opened.removeprefix("0x") not in made.text.lower()

    listed = await client.get(PATH, headers=merchant.headers)
    assert listed.json()["data"] == [data]
    # One a protocol: set again, refused, and the first stays as it was.
    again = await client.post(PATH, json={"protocol": "x402"}, headers=merchant.headers)
    assert (again.status_code, again.json()["code"]) == (409, EXISTS)
    assert [r.key_sealed for r in await _rows(db, merchant.merchant_id)] == [row.key_sealed]
    # Staging's wallet is another: it has none.
    staging = await _merchant(make_merchant, db, "staging")
    other = await client.get(PATH, headers=staging.headers)
    assert other.json()["data"] == []


async def _opened(db: Database, settings: Settings, merchant: MerchantKey) -> str:
    wallet = wallet_of(db, settings, merchant)
    found = await stored.opened(db, wallet.sealer, merchant.merchant_id, merchant.env, "x402")
    assert found is not None
    return found.secret


async def _pay(
    http: httpx.AsyncClient, merchant: MerchantKey, key: str, offer: str, **more: Any
) -> Any:
    body = {"url": "https://seller.example/r", "challenge": offer, **more}
    headers = {**merchant.headers, "Idempotency-Key": key}
    return await http.post("/payments", json=body, headers=headers)


async def test_a_live_payment_is_signed_by_the_imported_key_until_it_is_removed(
    paying_client: httpx.AsyncClient,
    chained: Settings,
    make_merchant: MakeMerchant,
    db: Database,
    facilitator: X402FacilitatorStandIn,
) -> None:
    merchant = await _merchant(
        make_merchant, db, "live", "billing", "billing:card", "payments:send"
    )
    offer = _offer(_need(chained, "live"))
    # The merchant's own key pays only by its choice: its wallet is then not debited.
    chosen = await paying_client.put(
        "/payments/funding",
        json={"protocol": "x402", "funded_by": "own"},
        headers=merchant.headers,
    )
    assert chosen.status_code == 200, chosen.text
    # No key yet: the payment is refused before anything is written or counted.
    refused = await _pay(paying_client, merchant, "before", offer)
    assert refused.json()["code"] == UNSUPPORTED, refused.text
    assert (refused.json()["status"], refused.json()["data"]) == (None, None), refused.text
    assert await merchant_balance(db, merchant) == 10_000

    mine = Account.create()
    imported = await paying_client.post(
        PATH,
        json={"protocol": "x402", "private_key": bytes(mine.key).hex()},  # without 0x
        headers=merchant.headers,
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["data"]["address"] == mine.address

    paid = await _pay(paying_client, merchant, "with-key", offer)
    assert paid.status_code == 201, paid.text
    data = paid.json()["data"]
    assert (data["status"], data["amount_cents"]) == ("authorized", 300)
    signed = decode_payment_signature_header(data["value"])
    assert isinstance(signed, PaymentPayload)
    assert signed.payload["authorization"]["from"] == mine.address
    assert _signer(signed) == mine.address
    assert data["funded_by"] == "own"
    assert await merchant_balance(db, merchant) == 10_000

    # The seller settles it; the chain is asked of the key's address, and says it was used.
    settle = {
        "x402Version": 2,
        "paymentPayload": signed.model_dump(by_alias=True, exclude_none=True),
        "paymentRequirements": signed.accepted.model_dump(by_alias=True, exclude_none=True),
    }
    async with local_client() as http:
        settled = await http.post(f"{facilitator.url}/settle", json=settle)
    assert settled.json()["success"] is True, settled.text
    payer = X402Payer()
    demand = registry.demand_of(chained, offer, utcnow(), env="live")
    made = Made(data["value"], signed.payload["authorization"]["nonce"])
    wallet = wallet_of(db, chained, merchant, "own")
    assert await payer.used(wallet, demand, made, now=utcnow()) == ("used", 300)

    gone = await paying_client.delete(f"{PATH}/x402", headers=merchant.headers)
    assert (gone.status_code, gone.json()["code"]) == (200, DELETED)
    assert await _rows(db, merchant.merchant_id) == []
    # What it made stays asked of the address that signed it.
    assert await payer.used(wallet, demand, made, now=utcnow()) == ("used", 300)
    # The offer paid stands: bought again, nothing signs it now.
    after = await _pay(paying_client, merchant, "after", offer, buy_again=True)
    assert after.json()["code"] == UNSUPPORTED, after.text
    assert after.json()["status"] is None, after.text
    assert await merchant_balance(db, merchant) == 10_000
    again = await paying_client.delete(f"{PATH}/x402", headers=merchant.headers)
    assert (again.status_code, again.json()["code"]) == (404, NOT_FOUND)


async def test_a_staging_key_set_signs_in_place_of_the_derived_one(
    client: httpx.AsyncClient, chained: Settings, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await _merchant(make_merchant, db, "staging")
    wallet = wallet_of(db, chained, merchant, "own")
    payer = X402Payer()
    demand = registry.demand_of(chained, _offer(_need(chained, "staging")), utcnow(), env="staging")

    async def signer(payment_id: str) -> str:
        made = await payer.make(wallet, demand, payment_id=payment_id)
        signed = decode_payment_signature_header(made.value)
        assert signed.payload["authorization"]["from"] == _signer(signed)
        return _signer(signed)

    derived = payer_address(chained, merchant.merchant_id)
    assert await signer("pay_derived") == derived
    mine = Account.create()
    key = "0x" + bytes(mine.key).hex().upper()  # hex digits of either case
    set_ = await client.post(
        PATH, json={"protocol": "x402", "private_key": key}, headers=merchant.headers
    )
    assert set_.status_code == 201, set_.text
    assert await signer("pay_own") == mine.address != derived
    assert (await client.delete(f"{PATH}/x402", headers=merchant.headers)).status_code == 200
    assert await signer("pay_derived_again") == derived


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"protocol": "x402", "private_key": "0x1234"}, "private_key"),
        ({"protocol": "x402", "private_key": "0x" + "g" * 64}, "private_key"),
        ({"protocol": "x402", "private_key": "0x" + "0" * 64}, "private_key"),
        ({"protocol": "x402", "private_key": "0x" + "f" * 64}, "private_key"),  # past the order
        ({"protocol": "x402", "private_key": "0x" + "a" * 66}, "private_key"),
        ({"protocol": "x402", "private_key": ""}, "private_key"),
        ({"protocol": "x402", "private_key": 12345}, "private_key"),
        ({"protocol": "mpp"}, "protocol"),  # its payer keeps no key of the merchant's
        ({"protocol": "bitcoin"}, "protocol"),
        ({"protocol": ""}, "protocol"),
        ({}, "protocol"),
        ({"protocol": "x402", "extra": 1}, "extra"),
    ],
)
async def test_bad_input_is_refused_naming_its_field_and_nothing_is_kept(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    body: dict[str, Any],
    field: str,
) -> None:
    merchant = await _merchant(make_merchant, db, "live")
    refused = await client.post(PATH, json=body, headers=merchant.headers)
    assert refused.status_code == 422, refused.text
    answer = refused.json()
    assert answer["code"] == VALIDATION_FAILED
    assert [e["loc"][0] for e in answer["data"]["errors"]] == [field]
    secret = body.get("private_key")
    if isinstance(secret, str) and len(secret) > 8:
        assert secret.removeprefix("0x") not in refused.text
    assert await _rows(db, merchant.merchant_id) == []


async def test_only_the_merchants_own_key_with_billing_sets_one(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    sender = await _merchant(make_merchant, db, "staging", "payments:send", "topup:send")
    for call in (
        client.post(PATH, json={"protocol": "x402"}, headers=sender.headers),
        client.get(PATH, headers=sender.headers),
        client.delete(f"{PATH}/x402", headers=sender.headers),
    ):
        refused = await call
        assert (refused.status_code, refused.json()["code"]) == (403, 2301), refused.text
        assert refused.json()["data"] == {"scope": "billing"}
    # An app's token that holds billing: never.
    owner = await make_merchant("staging")
    made = await register_app(client, owner, scopes=["billing", "topup:read"])
    flow = Flow(app, made["id"], made["client_secret"])
    person: Person = await sign_up_on(dashboard_client(app))
    tokens = await flow.tokens(person, scope="billing topup:read", form={"scopes": ["billing"]})
    await flow.oauth.aclose()
    token = {"Authorization": f"Bearer {tokens['access_token']}"}
    by_app = await client.post(PATH, json={"protocol": "x402"}, headers=token)
    assert (by_app.status_code, by_app.json()["code"]) == (403, 2391), by_app.text
    assert (await client.get(PATH, headers=token)).json()["code"] == 2391
    me = await client.get("/me", headers=token)
    assert await _rows(db, me.json()["data"]["merchant"]["id"]) == []


@pytest.mark.both_stores
async def test_two_racing_to_set_the_first_key_set_one(
    live_url: str, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await _merchant(make_merchant, db, "staging")
    async with local_client(base_url=live_url, timeout=30) as http:
        replies = await asyncio.gather(
            *(
                http.post(PATH, json={"protocol": "x402"}, headers=merchant.headers)
                for _ in range(4)
            )
        )
    codes = sorted(r.json()["code"] for r in replies)
    assert codes == [CREATED, EXISTS, EXISTS, EXISTS], [r.text for r in replies]
    [row] = await _rows(db, merchant.merchant_id)
    [won] = [r.json()["data"] for r in replies if r.status_code == 201]
    assert row.address == won["address"]


class KeyedTally(TallyPayer):
    """Tally's payer, signing with a key of the merchant's: any text of ten letters."""

    keyed = True

    def own_key(self, given: str | None) -> Key:
        secret = given if given is not None else "tenletters"
        if not (secret.isalpha() and len(secret) == 10):
            raise ValueError("a tally key is ten letters")
        return Key(secret, "tally:" + secret[::-1][:3])


async def test_a_made_up_protocols_keyed_payer_keeps_its_key_through_the_same_routes(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, settings: Settings
) -> None:
    merchant = await _merchant(make_merchant, db, "staging")
    with registry.paying(KeyedTally()):
        made = await client.post(
            PATH, json={"protocol": "tally", "private_key": "abcdefghij"}, headers=merchant.headers
        )
        assert made.status_code == 201, made.text
        assert made.json()["data"]["address"] == "tally:jih"
        bad = await client.post(
            PATH, json={"protocol": "tally", "private_key": "abc"}, headers=merchant.headers
        )
        assert bad.json()["data"]["errors"][0]["msg"] == "a tally key is ten letters"
        listed = await client.get(PATH, headers=merchant.headers)
        assert [k["protocol"] for k in listed.json()["data"]] == ["tally"]
        wallet = wallet_of(db, settings, merchant)
        opened = await stored.opened(db, wallet.sealer, merchant.merchant_id, "staging", "tally")
        assert opened == Key("abcdefghij", "tally:jih")
        assert (await client.delete(f"{PATH}/tally", headers=merchant.headers)).status_code == 200
    # Its payer gone, nothing takes a key for it.
    gone = await client.post(PATH, json={"protocol": "tally"}, headers=merchant.headers)
    assert gone.json()["code"] == VALIDATION_FAILED
