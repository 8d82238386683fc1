"""The payers' registry: a seller's challenge is read by the first protocol whose payer takes it
(MPP's ``WWW-Authenticate: Payment``, x402's ``PAYMENT-REQUIRED``), bounded before any reads it;
one that none takes is refused ``PAYMENT_METHOD_UNSUPPORTED``; a protocol registered with a
payer of its own (a made-up one) is asked too, and gone with it."""

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest
from x402.http import encode_payment_required_header
from x402.schemas import PaymentRequired, PaymentRequirements

from gateway.protocols import registry
from gateway.protocols.base import Demand, Made, Payer, Use, Wallet
from gateway.protocols.mpp import challenges
from gateway.protocols.x402 import offers
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from tests.fixtures.tally_pay import TALLY, TallyReceiver

NOW = datetime(2026, 11, 26, 5, 0, 0, tzinfo=UTC)


def _refused(settings: Settings, text: str) -> ApiError:
    with pytest.raises(ApiError) as refusal:
        registry.demand_of(settings, text, NOW, env="staging")
    return refusal.value


def test_the_built_in_protocols_pay_in_the_registrys_order() -> None:
    assert [p.name for p in registry.payers()] == ["mpp", "x402"]
    found = registry.payer("x402")
    assert found is not None and found.name == "x402"
    assert registry.payer("nobody") is None


def test_each_challenge_is_read_by_its_own_protocol(settings: Settings) -> None:
    paying = settings.model_copy(update={"x402_staging_rpc_url": "http://127.0.0.1:9/rpc"})
    mpp = challenges.challenge(
        settings, merchant_id="m_1", env="staging", amount_cents=700, now=NOW
    )
    read = registry.demand_of(paying, mpp.to_www_authenticate(mpp.realm), NOW, env="staging")
    assert (read.protocol, read.amount_cents) == ("mpp", 700)
    network, asset, name, version = offers.STAGING
    offer = PaymentRequired(
        accepts=[
            PaymentRequirements(
                scheme="exact",
                network=network,
                asset=asset,
                amount="7000000",
                pay_to="0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
                max_timeout_seconds=60,
                extra={"name": name, "version": version},
            )
        ]
    )
    text = "  " + encode_payment_required_header(offer) + "  "  # as a header may carry it
    read = registry.demand_of(paying, text, NOW, env="staging")
    assert (read.protocol, read.amount_cents) == ("x402", 700)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('Bearer realm="api"', Code.PAYMENT_METHOD_UNSUPPORTED),
        ("Basic", Code.PAYMENT_METHOD_UNSUPPORTED),
        ("eyJ4NDAyVmVyc2lvbiI6", Code.PAYMENT_CREDENTIAL_MALFORMED),  # an offer cut short
        ("", Code.PAYMENT_CREDENTIAL_MALFORMED),
        ("   ", Code.PAYMENT_CREDENTIAL_MALFORMED),
        ('Payment id="a",\r\n realm="b"', Code.PAYMENT_CREDENTIAL_MALFORMED),
        ('Payment id="\x00"', Code.PAYMENT_CREDENTIAL_MALFORMED),
        ("Payment " + "x" * 9000, Code.PAYMENT_CREDENTIAL_MALFORMED),
    ],
)
def test_what_no_payer_reads_is_refused_with_a_clear_code(
    settings: Settings, text: str, code: Code
) -> None:
    refusal = _refused(settings, text)
    assert refusal.code == code
    assert "nothing was paid" in refusal.message


class _TallyPayer(Payer):
    """A made-up payer: ``Tally <cents>`` is paid with ``paid-<payment id>``."""

    name: ClassVar[str] = TALLY

    def demand(
        self, settings: Settings, challenge: str, now: datetime, *, env: str
    ) -> Demand | None:
        if not challenge.startswith("Tally "):
            return None
        cents = int(challenge.removeprefix("Tally "))
        until = now + timedelta(minutes=1)
        return Demand(TALLY, cents, "usd", "tally.example", ("tally.example",), "Tally", until)

    def destination(self, demand: Demand) -> str:
        return f"{TALLY}:{demand.payee}"

    async def make(self, wallet: Wallet, demand: Demand, *, payment_id: str) -> Made:
        return Made(f"paid-{payment_id}", payment_id)

    async def used(
        self, wallet: Wallet, demand: Demand, made: Made, *, now: datetime
    ) -> tuple[Use, int]:
        return "unused", 0


class _PayingTally(TallyReceiver):
    def payer(self) -> Payer:
        return _TallyPayer()


def test_a_protocol_registered_with_a_payer_is_asked_and_gone_with_it(
    settings: Settings,
) -> None:
    assert _refused(settings, "Tally 300").code == Code.PAYMENT_METHOD_UNSUPPORTED
    with registry.registered(_PayingTally()):
        assert [p.name for p in registry.payers()] == ["mpp", "x402", TALLY]
        read = registry.demand_of(settings, "Tally 300", NOW, env="staging")
        assert (read.protocol, read.amount_cents, read.header) == (TALLY, 300, "Tally")
    assert registry.payer(TALLY) is None
