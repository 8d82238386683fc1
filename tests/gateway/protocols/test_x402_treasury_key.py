"""The operator's x402 treasury key: kept sealed, one per network (``AITOPUP_TREASURY_X402_KEYS``),
made and sealed by ``aitopup treasury --seal-x402-key``; a live wallet's credential is signed by
the key of the network it pays, a key sealed for another network or in clear is refused."""

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from pydantic import SecretStr, ValidationError
from x402.http import decode_payment_signature_header

from gateway.protocols.x402 import treasury_key
from gateway.protocols.x402.payer import X402Payer
from gateway.store.engine import Database
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from gateway.values.treasury_settings import payer_key_context
from keys import Sealer
from tests.fixtures.commands import aitopup
from tests.fixtures.core import TEST_SECRET
from tests.fixtures.funding import x402_offer
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.payers import treasury_sealed, wallet_of

PAYER = X402Payer()
SEALER = Sealer(TEST_SECRET.encode())
NOW = datetime(2026, 11, 26, 5, 0, 0, tzinfo=UTC)
BASE, SEPOLIA = "eip155:8453", "eip155:84532"
# Reading an offer needs the chain's address; making a credential asks it nothing.
RPC = {"x402_rpc_url": "http://127.0.0.1:9/rpc"}


async def _signer(settings: Settings, db: Database, make_merchant: MakeMerchant) -> str:
    """The address a live wallet's credential for an offer on its network is signed by."""
    merchant = await make_merchant("live")
    demand = PAYER.demand(settings, x402_offer(settings, 100), NOW, env="live")
    assert demand is not None
    made = await PAYER.make(wallet_of(db, settings, merchant), demand, payment_id="spy_1")
    address: str = decode_payment_signature_header(made.value).payload["authorization"]["from"]
    return address


async def test_each_network_pays_with_its_own_sealed_key(
    settings: Settings, db: Database, make_merchant: MakeMerchant
) -> None:
    base, sepolia = Account.create(), Account.create()
    keys = {BASE: treasury_sealed(BASE, base), SEPOLIA: treasury_sealed(SEPOLIA, sepolia)}
    for network, account in ((BASE, base), (SEPOLIA, sepolia)):
        on = settings.model_copy(
            update={**RPC, "treasury_x402_keys": keys, "x402_network": network}
        )
        assert PAYER.treasury_set(on)
        assert treasury_key.address(SEALER, on, network) == account.address
        assert await _signer(on, db, make_merchant) == account.address
    # Nothing in the setting is the key in clear.
    assert all(
        bytes(a.key).hex() not in str(keys[n]) for n, a in ((BASE, base), (SEPOLIA, sepolia))
    )


async def test_a_network_without_its_key_or_with_anothers_pays_nothing(
    settings: Settings, db: Database, make_merchant: MakeMerchant
) -> None:
    account = Account.create()
    none = settings.model_copy(update={**RPC, "treasury_x402_keys": {}, "x402_network": BASE})
    assert not PAYER.treasury_set(none)
    with pytest.raises(ApiError) as missing:
        await _signer(none, db, make_merchant)
    assert missing.value.code == Code.PAYMENT_METHOD_UNSUPPORTED
    assert BASE in missing.value.message
    # Sepolia's sealed key put under Base does not open: it is bound to its network.
    moved = {BASE: treasury_sealed(SEPOLIA, account)}
    wrong = settings.model_copy(update={**RPC, "treasury_x402_keys": moved, "x402_network": BASE})
    with pytest.raises(ApiError) as refused:
        await _signer(wrong, db, make_merchant)
    assert refused.value.code == Code.PAYMENT_METHOD_UNSUPPORTED
    assert "does not open" in refused.value.message
    # The operator's read of the rail says so too: set, but no instrument that pays.
    assert not PAYER.treasury_set(wrong)


def test_the_settings_refuse_a_key_in_clear_or_unsealed() -> None:
    clear = "0x" + bytes(Account.create().key).hex()
    base: dict[str, Any] = {"key_pepper": "p" * 20, "secret_key": TEST_SECRET}
    with pytest.raises(ValidationError) as old:
        Settings.model_validate({**base, "treasury_x402_key": clear})
    assert "--seal-x402-key" in str(old.value) and clear not in str(old.value)
    with pytest.raises(ValidationError) as unsealed:
        Settings.model_validate({**base, "treasury_x402_keys": {BASE: clear}})
    assert "is not sealed" in str(unsealed.value) and clear not in str(unsealed.value)
    with pytest.raises(ValidationError):
        Settings.model_validate({**base, "treasury_x402_keys": {"base": "v1:abc"}})


async def test_aitopup_treasury_seals_a_key_for_its_network(
    settings: Settings, tmp_path: Path
) -> None:
    code, out, err = await aitopup(settings, tmp_path, "treasury", "--seal-x402-key", BASE)
    assert code == 0, err
    [(network, sealed)] = json.loads(out).items()
    assert network == BASE
    on = settings.model_copy(update={"treasury_x402_keys": {BASE: SecretStr(sealed)}})
    key = treasury_key.opened(SEALER, on, BASE)
    assert key is not None and key not in out + err
    assert err.strip() == f"address {Account.from_key(key).address}"
    code, out, err = await aitopup(settings, tmp_path, "treasury", "--seal-x402-key", "base")
    assert code == 2 and "CAIP-2" in err


class _Counting:
    """The gateway's sealer, counting what it opens."""

    def __init__(self, sealer: Sealer) -> None:
        self.sealer, self.opened = sealer, 0

    def lookup(self, plaintext: str) -> str:
        return self.sealer.lookup(plaintext)

    def open(self, token: str, *, context: str = "") -> str:
        self.opened += 1
        return self.sealer.open(token, context=context)


async def test_ready_judges_that_the_treasury_key_opens_once_a_process(
    settings: Settings, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    account = Account.create()
    other = Sealer(b"another operator's secret, 32 bytes")
    given = PAYER.own_key("0x" + bytes(account.key).hex())
    cases = {
        "under another operator's secret": SecretStr(treasury_key.seal(other, BASE, given)),
        "not a key": SecretStr(SEALER.seal("not a key", context=payer_key_context(BASE))),
        "opens": treasury_sealed(BASE, account),
    }
    for case, sealed in cases.items():
        on = settings.model_copy(
            update={**RPC, "treasury_x402_keys": {BASE: sealed}, "x402_network": BASE}
        )
        demand = PAYER.demand(on, x402_offer(on, 100), NOW, env="live")
        assert demand is not None
        counting = _Counting(SEALER)
        wallet = replace(wallet_of(db, on, merchant), sealer=counting)
        for _ in range(3):
            if case == "opens":
                await PAYER.ready(wallet, demand)
                continue
            with pytest.raises(ApiError) as refused:
                await PAYER.ready(wallet, demand)
            assert refused.value.code == Code.PAYMENT_METHOD_UNSUPPORTED, case
            assert BASE in refused.value.message and "not a key" not in refused.value.message
        assert counting.opened <= 1, case  # judged once, whatever the number of payments
