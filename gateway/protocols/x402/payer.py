"""x402's paying half: an agent's wallet answering a seller's ``PAYMENT-REQUIRED`` offer (x402
v2) with a ``PAYMENT-SIGNATURE``: the ``exact`` scheme's EIP-3009 ``transferWithAuthorization``
of the offer's amount to its ``payTo``, signed, as the ``x402`` package's EVM client scheme
signs it.

What is paid: the first requirement of ``accepts`` with scheme ``exact`` on the network and
asset this gateway knows for the wallet's environment (staging: Base Sepolia's USDC,
``offers.STAGING``; live: ``AITOPUP_X402_NETWORK``'s ``AITOPUP_X402_ASSET``), transferred by
EIP-3009 (not Permit2), for a whole number of cents (``AITOPUP_X402_UNITS_PER_CENT`` of its
smallest units a cent). The authorization stands from now for the offer's
``maxTimeoutSeconds`` (an hour at most): ``validBefore`` is the demand's expiry.

The signature is made by the package's own pieces, in the order its client scheme
(``ExactEvmScheme.create_payment_payload``) calls them: ``ExactEIP3009Authorization``, the
EIP-712 typed data of ``build_typed_data_for_signing``, ``EthAccountSigner.sign_typed_data``
(eth-account), ``ExactEIP3009Payload``, wrapped in a ``PaymentPayload`` as ``x402Client``
wraps it. The scheme itself draws a random nonce; here the nonce is derived from the payment's
id (an HMAC under a key of the gateway's secret), so making the credential again with the same
key makes the same one (ECDSA signatures are deterministic, RFC 6979), and any two ever made
for one payment by one key share their nonce: the chain executes at most one. (Two made with
different keys, the merchant's changed between two tries, would not share it; only the one its
payment recorded is ever shown, ``sellers``.)

The payer's key, by who pays (``Wallet.funded_by``): for a wallet that pays (``wallet``, the
default: the wallet was debited), the operator's treasury key for the offer's network
(``AITOPUP_TREASURY_X402_KEYS``, sealed, one per network: ``treasury_key``), whose address the
operator funds; where the merchant
chose its own instrument (``own``), the merchant's own for the wallet's environment, imported
or made at ``POST /payments/payer-keys`` (``own_key``) and kept sealed
(``sellers.payer_keys``), opened when a credential is made and nowhere else; the merchant
funds its address with the asset on chain. Without one, staging signs with a test key derived
from the gateway's secret and the merchant's id (an HMAC-SHA256, the same key every time for
one merchant), a test network's key that never holds real funds: staging pays this gateway's
stand-in facilitator, which asks no chain, or a test network's seller. A live payment without
the key its funding needs (the treasury's, or the merchant's own) pays no x402 offer: the
demand reads (``demand`` asks no store), and ``ready`` refuses it
(``PAYMENT_METHOD_UNSUPPORTED``) before anything is debited; ``make`` refuses it as well, for
one whose key was removed after it was written, so it fails and its amount is given back.

Used: whether the asset's contract says the nonce was used (``chain``), asked of the address
that signed the credential (its authorization's ``from``, whatever key is set since); gone,
once its ``validBefore`` has passed by more than a chain takes to include a transfer sent
before it.
Nothing revokes an authorization short of the authorizer's own ``cancelAuthorization``
transaction (gas on chain): its ``validBefore`` ends it. The EVM libraries are imported when a
credential is first made (web3 under the package's signers: a second of a process's start), on a
thread (``values.loading``), so the payment that first needs them holds no other request.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import ValidationError
from x402.http import (
    PAYMENT_SIGNATURE_HEADER,
    decode_payment_signature_header,
    encode_payment_signature_header,
)
from x402.schemas import PaymentPayload, PaymentRequired, PaymentRequirements

from keys import Sealer

from ...store.engine import Database
from ...values import outside_json
from ...values.code_names import Code
from ...values.loading import loaded
from ...values.outcome import ApiError
from ...values.settings import Settings
from ...values.treasury_settings import payer_key_context
from .. import judged
from .. import payer_keys as stored
from ..base import (
    CHALLENGE_MAX_BYTES,
    LONGEST_CHALLENGE_SECONDS,
    OWN,
    Demand,
    Made,
    Payer,
    PayerKey,
    Use,
    Wallet,
)
from . import chain, offers, treasury_key
from .channel import X402

__all__ = ["LATE", "LONGEST_SECONDS", "X402Payer", "payer_address"]

STAGING = "staging"
# The longest an authorization stands, whatever an offer's ``maxTimeoutSeconds`` says.
LONGEST_SECONDS = LONGEST_CHALLENGE_SECONDS
# Past ``validBefore`` by this much, a block that could still include the transfer is past.
LATE = timedelta(minutes=10)
# The most cents one payment moves (as Stripe's largest amount in US dollars).
MOST_CENTS = 99_999_999
# secp256k1's order: a private key is a number in [1, N).
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_BASE64 = re.compile(r"[A-Za-z0-9+/=_-]+")
_PRIVATE_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


@dataclass(frozen=True, slots=True)
class _Kept:
    """The offer (its resource and extensions are echoed), the requirement chosen, its amount
    in the asset's smallest units, the asset's EIP-712 domain, and the environment."""

    required: PaymentRequired
    requirement: PaymentRequirements
    units: int
    domain: tuple[str, str]  # name, version
    env: str


def _malformed(why: str) -> ApiError:
    return ApiError(Code.PAYMENT_CREDENTIAL_MALFORMED, f"The x402 offer {why}: nothing was paid")


def _unsupported(why: str) -> ApiError:
    return ApiError(Code.PAYMENT_METHOD_UNSUPPORTED, f"{why}: nothing was paid")


def _decoded(text: str) -> dict[str, Any] | None:
    """The offer's JSON object, depth-checked before it is decoded; None when ``text`` is not
    base64 of a JSON object at all (not an offer)."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_")
    except (binascii.Error, ValueError):
        return None
    if not raw.lstrip().startswith(b"{"):
        return None
    try:
        found = outside_json.loads(raw)
    except (ValueError, UnicodeError):
        raise _malformed("is not base64 of JSON") from None
    if not isinstance(found, dict) or "x402Version" not in found:
        raise _malformed("is not an x402 PaymentRequired")
    return found


def _known(settings: Settings, env: str) -> tuple[str, str, str, str]:
    """The network, asset and asset's EIP-712 domain the environment's wallets pay on."""
    if env == STAGING:
        return offers.STAGING
    return (
        settings.x402_network,
        settings.x402_asset,
        settings.x402_asset_name,
        settings.x402_asset_version,
    )


def _chosen(required: PaymentRequired, network: str, asset: str) -> PaymentRequirements:
    for need in required.accepts:
        transfer = (need.extra or {}).get("assetTransferMethod", "eip3009")
        if (
            need.scheme == "exact"
            and need.network == network
            and need.asset.lower() == asset.lower()
            and transfer == "eip3009"
        ):
            return need
    raise _unsupported(f"The x402 offer has no exact EIP-3009 payment on {network} in {asset}")


def _secret(settings: Settings, purpose: bytes) -> bytes:
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, purpose, hashlib.sha256).digest()


def _staging_key(settings: Settings, merchant_id: str) -> bytes:
    """The merchant's staging payer key: the HMAC of its id under a key of the gateway's
    secret, hashed again in the rare case it is not a valid secp256k1 key."""
    key = hmac.new(_secret(settings, b"x402-staging-payer-key"), merchant_id.encode(), "sha256")
    found = key.digest()
    while not 0 < int.from_bytes(found, "big") < _N:
        found = hashlib.sha256(found).digest()
    return found


def _nonce(settings: Settings, merchant_id: str, payment_id: str) -> str:
    """The authorization's nonce: the same for every try of one payment, never another's."""
    text = f"{merchant_id}:{payment_id}".encode()
    return "0x" + hmac.new(_secret(settings, b"x402-payer-nonce"), text, "sha256").hexdigest()


def _signs(secret: str) -> bool:
    """Whether ``secret`` is an EVM account's key: 32 bytes in hex, a number in [1, N)."""
    text = secret.strip()
    return _PRIVATE_KEY.fullmatch(text) is not None and 0 < int(text, 16) < _N


def payer_address(settings: Settings, merchant_id: str) -> str:
    """The address the merchant's staging wallet pays from when no key of its own is set
    (checksummed)."""
    from eth_account import Account

    address: str = Account.from_key(_staging_key(settings, merchant_id)).address
    return address


_NO_OWN_KEY = "No x402 payer key is set for this live wallet (POST /payments/payer-keys)"


def _no_treasury_key(network: str) -> str:
    return (
        f"The operator's treasury has no x402 payer key for {network} (AITOPUP_TREASURY_X402_KEYS)"
    )


async def _signing_key(wallet: Wallet, network: str) -> bytes | str:
    """The key the credential is signed with. A wallet that pays (``funded_by`` ``wallet``, the
    wallet debited): the operator's treasury key for the network (staging: the gateway's
    derived test key), never the merchant's, so one party pays. The merchant's own instrument
    (``own``): its key for the environment (staging: the derived test key while it has none);
    a live payment without the key it needs is refused."""
    if wallet.funded_by != OWN:
        if wallet.env == STAGING:
            return _staging_key(wallet.settings, wallet.merchant_id)
        try:
            treasury = treasury_key.opened(wallet.sealer, wallet.settings, network)
        except ValueError as exc:
            raise _unsupported(str(exc).capitalize()) from None
        if treasury is None:
            raise _unsupported(_no_treasury_key(network))
        return treasury
    own = await stored.opened(wallet.db, wallet.sealer, wallet.merchant_id, wallet.env, X402)
    if own is not None:
        return own.secret
    if wallet.env == STAGING:
        return _staging_key(wallet.settings, wallet.merchant_id)
    raise _unsupported(_NO_OWN_KEY)


def _authorizer(made: Made) -> str:
    """The address that signed ``made``: its authorization's ``from``."""
    signed = decode_payment_signature_header(made.value)
    address = signed.payload.get("authorization", {}).get("from")
    if not isinstance(address, str) or _ADDRESS.fullmatch(address) is None:
        raise _unsupported("This credential names no address that signed it")
    return address


def _identity(required: PaymentRequired, need: PaymentRequirements) -> str:
    """What makes an offer the same one: the requirement paid, whole (its ``payTo``, amount,
    network, asset, time to pay, and ``extra``, where a seller's nonce or expiry rides), and
    the resource it is for."""
    resource = required.resource.model_dump(mode="json") if required.resource else None
    offer = {"resource": resource, "accepts": need.model_dump(mode="json", by_alias=True)}
    return json.dumps(offer, sort_keys=True, separators=(",", ":"))


class X402Payer(Payer):
    name: ClassVar[str] = X402
    keyed: ClassVar[bool] = True
    challenge_headers: ClassVar[tuple[str, ...]] = (offers.PAYMENT_REQUIRED_HEADER,)

    def own_key(self, given: str | None) -> PayerKey:
        """An EVM account's key: ``given`` (32 bytes in hex, ``0x`` or not, a valid secp256k1
        key), or a new one from the system's randomness (eth-account's ``Account.create``)."""
        from eth_account import Account

        if given is None:
            made = Account.create()
            return PayerKey("0x" + bytes(made.key).hex(), made.address)
        text = given.strip()
        if _PRIVATE_KEY.fullmatch(text) is None:
            raise ValueError("an x402 payer key is 32 bytes in hex: 0x and 64 hex digits")
        secret = "0x" + text.removeprefix("0x").lower()
        if not _signs(secret):
            raise ValueError("not a valid secp256k1 private key")
        return PayerKey(secret, Account.from_key(secret).address)

    def demand(
        self, settings: Settings, challenge: str, now: datetime, *, env: str
    ) -> Demand | None:
        text = challenge.strip()
        if _BASE64.fullmatch(text) is None:
            return None
        if len(text) > CHALLENGE_MAX_BYTES:
            raise _malformed("is too long")
        found = _decoded(text)
        if found is None:
            return None
        if found.get("x402Version") != 2:
            raise _unsupported("Only x402 version 2 offers are paid")
        try:
            required = PaymentRequired.model_validate(found)
        except (ValidationError, ValueError, TypeError, RecursionError):
            raise _malformed("could not be read") from None
        if chain.rpc_url(settings, env) is None:
            raise _unsupported("No RPC URL is set to learn whether an x402 payment was used")
        network, asset, name, version = _known(settings, env)
        need = _chosen(required, network, asset)
        digits = need.amount
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 30 and int(digits) > 0):
            raise _malformed("asks no amount in the asset's smallest units")
        units, per_cent = int(need.amount), settings.x402_units_per_cent
        if units % per_cent:
            raise _unsupported("The x402 offer asks an amount that is not whole cents")
        if units // per_cent > MOST_CENTS:
            raise _malformed("asks more than one payment moves")
        if _ADDRESS.fullmatch(need.pay_to) is None:
            raise _malformed("pays no EVM address")
        if need.max_timeout_seconds <= 0:
            raise ApiError(Code.PAYMENT_CHALLENGE_EXPIRED, "The x402 offer gives no time to pay")
        seconds = min(need.max_timeout_seconds, LONGEST_SECONDS)
        extra = need.extra or {}
        domain = (
            extra["name"] if isinstance(extra.get("name"), str) else name,
            extra["version"] if isinstance(extra.get("version"), str) else version,
        )
        return Demand(
            protocol=X402,
            amount_cents=units // per_cent,
            currency="usd",
            payee=need.pay_to,
            payee_names=(need.pay_to,),
            header=PAYMENT_SIGNATURE_HEADER,
            expires_at=(now + timedelta(seconds=seconds)).replace(microsecond=0),
            kept=_Kept(required, need, units, domain, env),
            once=_identity(required, need),
            again=True,
        )

    def treasury_set(self, settings: Settings) -> bool:
        """Whether the treasury's key for ``AITOPUP_X402_NETWORK`` is set and opens under the
        gateway's secret into a key that signs: judged as ``ready`` judges it, once a process."""
        network = settings.x402_network
        sealed = settings.treasury_x402_keys.get(network)
        if sealed is None:
            return False
        sealer = Sealer(settings.secret_key.get_secret_value().encode())
        context = payer_key_context(network)
        return judged.unusable(sealer, sealed.get_secret_value(), context, _signs) is None

    async def treasury_cents(
        self, db: Database, sealer: Any, settings: Settings, env: str
    ) -> int | None:
        """The chain's balance of the treasury's address on ``AITOPUP_X402_NETWORK``, in whole
        cents of its asset (live; staging's wallets pay from test keys of their own)."""
        if env == STAGING or settings.x402_network not in settings.treasury_x402_keys:
            return None
        await loaded("eth_account")  # off the loop, as a credential's first making loads it
        holder = treasury_key.address(sealer, settings, settings.x402_network)
        if holder is None:
            return None
        units = await chain.balance_of(settings, env, asset=settings.x402_asset, holder=holder)
        return units // settings.x402_units_per_cent

    async def ready(self, wallet: Wallet, demand: Demand) -> None:
        """A live payment refused as ``make`` would refuse it for want of a signing key (the
        treasury's for the offer's network, or the merchant's own) that opens into an EVM
        account's key, before the debit (judged once a process for each sealed value,
        ``protocols.judged``); staging always has one."""
        if wallet.env == STAGING:
            return
        if wallet.funded_by != OWN:
            network = _kept(wallet, demand).requirement.network
            sealed = wallet.settings.treasury_x402_keys.get(network)
            if sealed is None:
                raise _unsupported(_no_treasury_key(network))
            context = payer_key_context(network)
            why = judged.unusable(wallet.sealer, sealed.get_secret_value(), context, _signs)
            if why is not None:
                raise _unsupported(f"The operator's treasury x402 key for {network} {why}")
            return
        own = await stored.held(wallet.db, wallet.merchant_id, wallet.env, X402)
        if own is None:
            raise _unsupported(_NO_OWN_KEY)
        why = judged.unusable(wallet.sealer, *own, _signs)
        if why is not None:
            raise _unsupported(f"This wallet's x402 payer key {why}: set it again")

    def destination(self, demand: Demand) -> str:
        """The offer's network, asset and ``payTo``, the addresses in lower case."""
        assert isinstance(demand.kept, _Kept)
        need = demand.kept.requirement
        return f"{X402}:{need.network}:{need.asset.lower()}:{need.pay_to.lower()}"

    async def make(self, wallet: Wallet, demand: Demand, *, payment_id: str) -> Made:
        kept = _kept(wallet, demand)
        key = await _signing_key(wallet, kept.requirement.network)
        # The EVM libraries, when first needed, off the loop (see the module's docstring).
        await loaded("eth_account")
        await loaded("x402.mechanisms.evm")
        from eth_account import Account
        from x402.mechanisms.evm import (
            EthAccountSigner,
            ExactEIP3009Authorization,
            ExactEIP3009Payload,
            TypedDataField,
            build_typed_data_for_signing,
            get_evm_chain_id,
        )

        account = Account.from_key(key)
        need = kept.requirement
        authorization = ExactEIP3009Authorization(
            from_address=account.address,
            to=need.pay_to,
            value=str(kept.units),
            valid_after="0",
            valid_before=str(int(demand.expires_at.timestamp())),
            nonce=_nonce(wallet.settings, wallet.merchant_id, payment_id),
        )
        domain, types, primary, message = build_typed_data_for_signing(
            authorization, get_evm_chain_id(str(need.network)), need.asset, *kept.domain
        )
        fields = {
            kind: [TypedDataField(name=f["name"], type=f["type"]) for f in listed]
            for kind, listed in types.items()
        }
        signed = EthAccountSigner(account).sign_typed_data(domain, fields, primary, message)
        inner = ExactEIP3009Payload(authorization=authorization, signature="0x" + signed.hex())
        payload = PaymentPayload(
            x402_version=2,
            payload=inner.to_dict(),
            accepted=need,
            resource=kept.required.resource,
            extensions=kept.required.extensions or None,
        )
        return Made(encode_payment_signature_header(payload), authorization.nonce)

    async def used(
        self, wallet: Wallet, demand: Demand, made: Made, *, now: datetime
    ) -> tuple[Use, int]:
        kept = _kept(wallet, demand)
        done = await chain.authorization_used(
            wallet.settings,
            wallet.env,
            asset=kept.requirement.asset,
            authorizer=_authorizer(made),
            nonce=made.reference,
        )
        if done:
            return "used", demand.amount_cents
        return ("gone", 0) if now >= demand.expires_at + LATE else ("unused", 0)


def _kept(wallet: Wallet, demand: Demand) -> _Kept:
    kept = demand.kept
    if not isinstance(kept, _Kept) or kept.env != wallet.env:
        raise _unsupported("This demand was read for a wallet of another environment")
    return kept
