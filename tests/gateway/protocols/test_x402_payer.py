"""x402's paying half: a seller's ``PAYMENT-REQUIRED`` offer read (the first ``exact`` EIP-3009
requirement on the network and asset the wallet's environment pays, in whole cents, or a clear
refusal); the authorization signed as the ``x402`` package's client scheme signs it, its nonce
derived from the payment's id so making it again makes the same one; a seller's send refused
for funds, paid from another merchant's staging wallet through the stood-in facilitator, is
delivered and credited once, and the chain (the stand-in's JSON-RPC) says it was used. On both
stores."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from x402.http import decode_payment_signature_header, encode_payment_required_header
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo

from gateway.protocols import registry
from gateway.protocols.base import CHALLENGE_MAX_BYTES
from gateway.protocols.x402 import chain, offers
from gateway.protocols.x402.payer import LATE, X402Payer, payer_address
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from tests.fixtures.core import live_server, local_client
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.payers import paid_orders, refused, send_body, wallet_of
from tests.fixtures.stand_ins import served

if TYPE_CHECKING:
    from gateway.standins.x402 import X402FacilitatorStandIn as Facilitator

PAYER = X402Payer()
NOW = datetime(2026, 11, 26, 5, 0, 0, tzinfo=UTC)
NETWORK, ASSET, NAME, VERSION = offers.STAGING
SELLER = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"


@pytest.fixture
async def facilitator() -> AsyncIterator[Facilitator]:
    # Imported here: the stand-in verifies EVM signatures (see tests/.../test_x402.py).
    from gateway.standins.x402 import X402FacilitatorStandIn

    async with served(X402FacilitatorStandIn()) as stand_in:
        yield stand_in


@pytest.fixture
def paying(settings: Settings) -> Settings:
    """Staging pays x402, the chain asked at a JSON-RPC URL (nothing there: demand asks none)."""
    return settings.model_copy(update={"x402_staging_rpc_url": "http://127.0.0.1:9/rpc"})


@pytest.fixture
def x402_settings(settings: Settings, facilitator: Facilitator) -> Settings:
    return settings.model_copy(
        update={
            "x402_staging_pay_to": SELLER,
            "x402_staging_facilitator_url": facilitator.url,
            "x402_staging_rpc_url": f"{facilitator.url}/rpc",
        }
    )


@pytest.fixture
async def x402_url(x402_settings: Settings) -> AsyncIterator[str]:
    async with live_server(x402_settings) as root:
        yield f"{root}/api/public/v1"


def _need(**changed: Any) -> PaymentRequirements:
    fields: dict[str, Any] = {
        "scheme": "exact",
        "network": NETWORK,
        "asset": ASSET,
        "amount": "12000000",  # 1,200 cents of USDC
        "pay_to": SELLER,
        "max_timeout_seconds": 120,
        "extra": {"name": NAME, "version": VERSION},
        **changed,
    }
    return PaymentRequirements(**fields)


def _offer(*needs: PaymentRequirements) -> str:
    return encode_payment_required_header(
        PaymentRequired(
            x402_version=2,
            resource=ResourceInfo(url="https://seller.example/answer"),
            accepts=list(needs) or [_need()],
        )
    )


def _raw(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def _refusal(settings: Settings, text: str, env: str = "staging") -> ApiError:
    with pytest.raises(ApiError) as refusal:
        PAYER.demand(settings, text, NOW, env=env)
    return refusal.value


def test_an_offer_on_stagings_network_is_read_for_a_staging_wallet(paying: Settings) -> None:
    other = _need(network="eip155:8453", amount="1")  # another network: passed over
    found = PAYER.demand(paying, _offer(other, _need()), NOW, env="staging")
    assert found is not None
    assert (found.protocol, found.amount_cents, found.currency) == ("x402", 1200, "usd")
    assert (found.payee, found.payee_names) == (SELLER, (SELLER,))
    network, asset = paying.x402_network, paying.x402_asset.lower()
    assert PAYER.destination(found) == f"x402:{network}:{asset}:{SELLER.lower()}"
    assert found.header == "PAYMENT-SIGNATURE"
    assert found.expires_at == NOW + timedelta(seconds=120)
    longest = PAYER.demand(paying, _offer(_need(max_timeout_seconds=86_400)), NOW, env="staging")
    assert longest is not None and longest.expires_at == NOW + timedelta(hours=1)


def test_what_is_not_base64_is_not_x402s(paying: Settings) -> None:
    assert PAYER.demand(paying, 'Payment id="a", realm="b"', NOW, env="staging") is None
    assert PAYER.demand(paying, "Bearer abc", NOW, env="staging") is None
    assert PAYER.demand(paying, "bm90IGpzb24", NOW, env="staging") is None  # "not json"
    assert PAYER.demand(paying, "Basic", NOW, env="staging") is None


def _deep() -> Any:
    nested: Any = 1
    for _ in range(40):
        nested = [nested]
    return nested


@pytest.mark.parametrize(
    "text",
    [
        "eyJ4NDAyVmVyc2lvbiI6",  # an offer cut short: '{"x402Version":'
        _raw({"not": "x402"}),
        _raw({"x402Version": 2}),  # no accepts
        _raw({"x402Version": 2, "accepts": [{"scheme": "exact"}]}),
        _raw({"x402Version": 2, "accepts": _deep()}),
        _offer(_need(amount="twelve")),
        _offer(_need(pay_to="somebody")),
    ],
)
def test_an_offer_that_cannot_be_read_is_malformed(paying: Settings, text: str) -> None:
    assert _refusal(paying, text).code == Code.PAYMENT_CREDENTIAL_MALFORMED


@pytest.mark.parametrize(
    "text",
    [
        _offer(_need(asset="0x0000000000000000000000000000000000000001")),
        _offer(_need(network="eip155:8453")),
        _offer(_need(scheme="upto")),
        _offer(_need(extra={"name": NAME, "version": VERSION, "assetTransferMethod": "permit2"})),
        _offer(_need(amount="12345")),  # not whole cents
        _raw({"x402Version": 1, "accepts": []}),
    ],
)
def test_another_asset_network_scheme_or_amount_is_not_paid(paying: Settings, text: str) -> None:
    refusal = _refusal(paying, text)
    assert refusal.code == Code.PAYMENT_METHOD_UNSUPPORTED
    assert "nothing was paid" in refusal.message


def test_an_offer_that_gives_no_time_is_expired(paying: Settings) -> None:
    refusal = _refusal(paying, _offer(_need(max_timeout_seconds=0)))
    assert refusal.code == Code.PAYMENT_CHALLENGE_EXPIRED


def test_an_environment_without_a_chain_to_ask_is_refused(
    paying: Settings, settings: Settings
) -> None:
    live = _refusal(paying, _offer(), env="live")  # no AITOPUP_X402_RPC_URL
    assert (live.code, "no rpc url" in live.message.lower()) == (
        Code.PAYMENT_METHOD_UNSUPPORTED,
        True,
    )
    blind = settings.model_copy(update={"x402_staging_rpc_url": None})
    assert _refusal(blind, _offer()).code == Code.PAYMENT_METHOD_UNSUPPORTED
    # With one, live reads the offer: its key is the wallet's, asked for when it is made.
    seeing = paying.model_copy(update={"x402_rpc_url": "http://127.0.0.1:9/rpc"})
    found = PAYER.demand(seeing, _offer(), NOW, env="live")
    assert found is not None and found.amount_cents == 1200


async def test_a_live_wallet_without_a_key_of_its_own_makes_nothing(
    db: Database, paying: Settings, make_merchant: MakeMerchant
) -> None:
    seeing = paying.model_copy(update={"x402_rpc_url": "http://127.0.0.1:9/rpc"})
    found = PAYER.demand(seeing, _offer(), NOW, env="live")
    assert found is not None
    wallet = wallet_of(db, seeing, await make_merchant("live"))
    with pytest.raises(ApiError) as refused:
        await PAYER.make(wallet, found, payment_id="pay_live")
    assert refused.value.code == Code.PAYMENT_METHOD_UNSUPPORTED
    assert "no x402 payer key" in refused.value.message.lower()


def test_an_offer_past_the_bound_is_refused_before_it_is_decoded(paying: Settings) -> None:
    long = "A" * (CHALLENGE_MAX_BYTES + 4)
    assert _refusal(paying, long).code == Code.PAYMENT_CREDENTIAL_MALFORMED
    with pytest.raises(ApiError) as refusal:
        registry.demand_of(paying, long, NOW, env="staging")
    assert refusal.value.code == Code.PAYMENT_CREDENTIAL_MALFORMED


async def test_making_again_for_one_payment_makes_the_same_signed_authorization(
    db: Database, paying: Settings, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    wallet = wallet_of(db, paying, merchant)
    found = PAYER.demand(paying, _offer(), NOW, env="staging")
    assert found is not None
    first = await PAYER.make(wallet, found, payment_id="pay_1")
    assert await PAYER.make(wallet, found, payment_id="pay_1") == first
    # Read again at the time it was first read, as the domain restores it: the same demand.
    again = PAYER.demand(paying, _offer(), NOW, env="staging")
    assert again == found
    assert await PAYER.make(wallet, again, payment_id="pay_1") == first
    other = await PAYER.make(wallet, found, payment_id="pay_2")
    assert other.reference != first.reference
    signed = decode_payment_signature_header(first.value)
    assert isinstance(signed, PaymentPayload)
    assert signed.accepted == _need()
    authorization = signed.payload["authorization"]
    assert authorization == {
        "from": payer_address(paying, merchant.merchant_id),
        "to": SELLER,
        "value": "12000000",
        "validAfter": "0",
        "validBefore": str(int(found.expires_at.timestamp())),
        "nonce": first.reference,
    }
    # The shape the package's own client scheme makes, but for its random nonce and clock.
    from eth_account import Account
    from x402.mechanisms.evm.exact import ExactEvmScheme

    theirs = ExactEvmScheme(Account.create()).create_payment_payload(_need())
    assert set(theirs) == set(signed.payload) == {"authorization", "signature"}
    assert set(theirs["authorization"]) == set(authorization)
    assert len(theirs["signature"]) == len(signed.payload["signature"])


def test_the_chains_call_is_authorization_state() -> None:
    from eth_utils.abi import function_signature_to_4byte_selector

    from gateway.standins.x402 import AUTHORIZATION_STATE

    selector = function_signature_to_4byte_selector("authorizationState(address,bytes32)")
    assert "0x" + selector.hex() == chain.SELECTOR == AUTHORIZATION_STATE
    data = chain.call_data(SELLER, "0x" + "ab" * 32)
    assert data == chain.SELECTOR + "0" * 24 + SELLER[2:].lower() + "ab" * 32


@pytest.mark.both_stores
async def test_a_sellers_offer_is_paid_from_another_wallet_once_and_the_chain_says_so(
    x402_url: str,
    x402_settings: Settings,
    db: Database,
    make_merchant: MakeMerchant,
    facilitator: Facilitator,
) -> None:
    seller = await make_merchant("staging", balance_cents=0)
    payer = await make_merchant("staging", balance_cents=0)
    wallet = wallet_of(db, x402_settings, payer)
    body = send_body(540)
    async with local_client(timeout=30) as http:
        offer = await refused(http, x402_url, seller, body)
        found = registry.demand_of(
            x402_settings, offer.headers["payment-required"], utcnow(), env="staging"
        )
        assert (found.protocol, found.amount_cents, found.payee) == ("x402", 600, SELLER)
        made = await PAYER.make(wallet, found, payment_id="pay_x402_once")
        assert await PAYER.used(wallet, found, made, now=utcnow()) == ("unused", 0)
        paid = {**seller.headers, found.header: made.value}
        reply = await http.post(f"{x402_url}/topup/send", json=body, headers=paid)
        assert reply.status_code == 200, reply.text
        assert reply.json()["code"] == 1001
        assert await PAYER.used(wallet, found, made, now=utcnow()) == ("used", 600)
        again = await http.post(f"{x402_url}/topup/send", json=body, headers=paid)
        assert again.status_code == 402
        assert again.json()["code"] == int(Code.PAYMENT_CHALLENGE_INVALID)
    assert facilitator.asked.count("settle") == 1
    assert await paid_orders(db, seller.merchant_id, "x402") == (1, 600, 1)
    assert await paid_orders(db, payer.merchant_id, "x402") == (0, 0, 0)


async def test_an_unsettled_authorization_is_gone_once_past_its_window(
    x402_settings: Settings, db: Database, make_merchant: MakeMerchant, facilitator: Facilitator
) -> None:
    wallet = wallet_of(db, x402_settings, await make_merchant("staging"))
    now = utcnow()
    found = PAYER.demand(x402_settings, _offer(), now, env="staging")
    assert found is not None
    made = await PAYER.make(wallet, found, payment_id="pay_x402_never")
    assert await PAYER.used(wallet, found, made, now=found.expires_at) == ("unused", 0)
    assert await PAYER.used(wallet, found, made, now=found.expires_at + LATE) == ("gone", 0)
    await PAYER.revoke(wallet, found, made)  # nothing ends it but its window
    assert facilitator.asked == ["rpc", "rpc"]
    facilitator.faults.fail_next = 1  # the RPC answers 503
    with pytest.raises(ApiError) as failed:
        await PAYER.used(wallet, found, made, now=now)
    assert failed.value.code == Code.PAYMENT_PROVIDER_ERROR
