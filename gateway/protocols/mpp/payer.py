"""MPP's paying half: an agent's wallet answering a seller's ``WWW-Authenticate: Payment``
challenge (the Stripe method's charge intent, in US dollars) with a credential
``Payment <base64url>`` (``{"challenge": <its echo>, "payload": {"spt": <token>}}``), as
pympp's ``Credential.to_authorization`` writes it, sent in the header the challenge advertises
(``Payment-Authorization`` on this gateway's), else ``Authorization``.

The token, by where the wallet is:

- **live**: a Shared Payment Token Stripe issues, under the Stripe channel's live credentials,
  from the operator's treasury's payment method (``AITOPUP_TREASURY_STRIPE_PAYMENT_METHOD``)
  for a wallet that pays (``Wallet.funded_by`` ``wallet``, the wallet debited: one party pays),
  or from the merchant's saved card (the one auto top-up saved,
  ``billing.auto_top_up.saved_method``) where the merchant chose its own instrument (``own``),
  for the challenge's network profile (``methodDetails.networkId``), at most its amount, until
  its expiry, under the payment's id as its idempotency key (``stripe_issued``): asked again,
  the same token (a 409, ``PAYMENT_PROVIDER_ERROR`` with ``provider_status`` 409, while another
  try of the same payment is in flight at Stripe). A card that asks its holder to act
  (``requires_action``) cannot pay with no one present: its token is revoked and the payment
  refused. Used: what Stripe says the seller captured with it; gone: deactivated with nothing
  captured; revoked at Stripe.
- **staging, this gateway's own challenge** (its realm, ``challenges.realm``): a sandbox token
  (``sandbox_spt``) minted for the merchant the challenge's ``opaque`` names, at most the
  amount, its nonce derived from the payment's id, so making it again makes the same token.
  No money moves. Used: whether the order the challenge keys was paid with that token
  (``claims``); gone once another credential claimed it, its payment failed, or its challenge
  is past paying.
- **staging, another seller**: Stripe's test mode, as live, with
  ``AITOPUP_STRIPE_STAGING_SECRET_KEY`` (a test key only) and Stripe's test card
  (``pm_card_visa``; the merchant's saved test card where it chose its own instrument and
  saved one); refused without that key.

A live wallet never pays a staging challenge of this gateway's, nor a staging one a live one.
``demand`` parses with pympp's own ``Challenge.from_www_authenticate``, every base64url value in
the text first checked for depth (``values.outside_json``), as pympp decodes it with the
standard decoder."""

import base64
import binascii
import hashlib
import hmac
import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

# ``mpp`` names ``ParseError`` at its top level, without an ``__all__`` that lists it.
from mpp import Challenge, Credential, ParseError  # type: ignore[attr-defined]

from ...billing import auto_top_up
from ...billing.channels import offering
from ...billing.channels import registry as channels
from ...billing.channels.providers.stripe_checkout import StripeCredentials, stripe_settings
from ...billing.channels.registry import STRIPE
from ...store.engine import Database
from ...values import outside_json
from ...values.code_names import Code
from ...values.outcome import ApiError
from ...values.settings import Settings
from ..base import (
    CHALLENGE_MAX_BYTES,
    LONGEST_CHALLENGE_SECONDS,
    OWN,
    Demand,
    Made,
    Payer,
    Use,
    Wallet,
    digest,
)
from ..claims import claim_of
from . import challenges, sandbox_spt, stripe_balance, stripe_issued
from .channel import MPP

__all__ = ["MppPayer"]

STAGING = "staging"
CURRENCY = "usd"
# Stripe's largest amount in US dollars (99,999,999 cents).
MOST_CENTS = 99_999_999
# Stripe's test card, what staging issues from when the wallet saved none.
TEST_CARD = "pm_card_visa"
# A run of base64url text long enough to decode to more brackets than ``MAX_DEPTH``.
_ENCODED = re.compile(rf"[A-Za-z0-9_-]{{{4 * outside_json.MAX_DEPTH // 3},}}")


@dataclass(frozen=True, slots=True)
class _Kept:
    """What ``make`` and ``used`` need of the challenge: itself (echoed by the credential),
    Stripe's network profile it names, the environment it is paid from, and, for this
    gateway's own staging challenge, the merchant it was issued to."""

    challenge: Challenge
    network_id: str
    env: str
    own: str | None


def _malformed(why: str) -> ApiError:
    return ApiError(Code.PAYMENT_CREDENTIAL_MALFORMED, f"The MPP challenge {why}: nothing was paid")


def _unsupported(why: str) -> ApiError:
    return ApiError(Code.PAYMENT_METHOD_UNSUPPORTED, f"{why}: nothing was paid")


def _too_deep(text: str) -> bool:
    """Whether a base64url value of ``text`` decodes to JSON nested past ``MAX_DEPTH``."""
    for run in _ENCODED.findall(text):
        try:
            raw = base64.urlsafe_b64decode(run + "=" * (-len(run) % 4))
        except (binascii.Error, ValueError):
            continue
        if outside_json.too_deep(raw):
            return True
    return False


def _parsed(text: str) -> Challenge:
    if len(text.encode("utf-8", "surrogatepass")) > CHALLENGE_MAX_BYTES or _too_deep(text):
        raise _malformed("is too long or nested too deep")
    try:
        return Challenge.from_www_authenticate(text)
    except (ParseError, ValueError, TypeError, KeyError, UnicodeError, RecursionError):
        raise _malformed("could not be read") from None


def _expiry(settings: Settings, found: Challenge, now: datetime) -> datetime:
    """When the challenge stops being payable: its ``expires``, in the past refused, at most
    ``LONGEST_CHALLENGE_SECONDS`` ahead (as an x402 offer's time to pay: the amount is held
    until then); one without is taken for as long as this gateway's own challenges last
    (``mpp_challenge_ttl_seconds``)."""
    if not found.expires:
        return now + timedelta(seconds=settings.mpp_challenge_ttl_seconds)
    try:
        expires_at = datetime.fromisoformat(str(found.expires))
    except ValueError:
        raise _malformed("has an expiry that is not a time") from None
    if expires_at.tzinfo is None:
        raise _malformed("has an expiry without its offset")
    if expires_at <= now:
        raise ApiError(Code.PAYMENT_CHALLENGE_EXPIRED, "The MPP challenge has expired")
    if expires_at > now + timedelta(seconds=LONGEST_CHALLENGE_SECONDS):
        raise _malformed(
            f"expires more than {LONGEST_CHALLENGE_SECONDS} seconds ahead, longer than a "
            "payment holds its amount"
        )
    return expires_at


def _signed_here(settings: Settings, found: Challenge) -> bool:
    """Whether this gateway issued ``found``: its id is the HMAC of its parameters under the
    key its own challenges are bound with (``challenges.challenge_key``)."""
    try:
        return bool(found.verify(challenges.challenge_key(settings), challenges.realm(settings)))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return False  # parameters no issuer could have bound


def _own(settings: Settings, found: Challenge, env: str) -> str | None:
    """The merchant this gateway's own staging challenge was issued to, paid from a staging
    wallet; None for a seller paid through Stripe. Refused where the environments differ, or
    where staging would pay another seller without Stripe's test mode."""
    opaque: Any = found.opaque
    if found.realm == challenges.realm(settings) and not _signed_here(settings, found):
        # A challenge in this gateway's realm it did not issue: another seller's is its own.
        raise ApiError(
            Code.PAYMENT_CHALLENGE_INVALID,
            "The MPP challenge names this gateway's realm but its id was not issued by it: "
            "nothing was paid",
        )
    ours = (
        found.realm == challenges.realm(settings)
        and isinstance(opaque, dict)
        and set(opaque) == {"merchant", "env", "nonce"}
        and all(isinstance(value, str) for value in opaque.values())
    )
    if ours:
        merchant, issued_in = opaque["merchant"], opaque["env"]
        if issued_in != env:
            raise _unsupported(
                f"This gateway's {issued_in} challenge is paid from a {issued_in} wallet only"
            )
        if env == STAGING:
            return str(merchant)
    if env == STAGING and settings.stripe_staging_secret_key is None:
        raise _unsupported(
            "Staging pays another seller's MPP challenge through Stripe's test mode only, "
            "which is not configured here (AITOPUP_STRIPE_STAGING_SECRET_KEY)"
        )
    return None


def _credential(challenge: Challenge, token: str) -> str:
    """The credential header's value: the challenge echoed, and the token that pays it."""
    return Credential(challenge=challenge.to_echo(), payload={"spt": token}).to_authorization()


def _sandbox_nonce(settings: Settings, payment_id: str) -> str:
    """A sandbox token's nonce, the same for every try of one payment."""
    key = hmac.new(
        settings.secret_key.get_secret_value().encode(), b"mpp-payer-token", hashlib.sha256
    ).digest()
    return hmac.new(key, payment_id.encode(), hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Tokens:
    """Where a wallet's Stripe tokens are issued: the settings carrying the account's key,
    and the saved payment method they are issued from."""

    settings: Settings
    payment_method: str


async def _stripe(wallet: Wallet) -> Settings:
    """The settings of the Stripe account the wallet issues tokens in."""
    return await _account(wallet.db, wallet.settings, wallet.env)


async def _account(db: Database, settings: Settings, env: str) -> Settings:
    """The settings of the environment's Stripe account: the Stripe channel's live
    credentials, or staging's test key."""
    if env == STAGING:
        key = settings.stripe_staging_secret_key
        if key is None:
            raise _unsupported("Stripe's test mode is not configured for staging")
        return settings.model_copy(update={"stripe_secret_key": key})
    provider = channels.get(STRIPE)
    assert provider is not None
    found = await offering.credentials_for(db, settings, provider, env)
    if not isinstance(found, StripeCredentials):
        raise ApiError(Code.PAYMENT_CHANNEL_NOT_CONFIGURED, data={"channel": STRIPE})
    return stripe_settings(settings, found)


async def _tokens(wallet: Wallet) -> _Tokens:
    """Where the token is issued from: the operator's treasury's payment method for a wallet
    that pays (``funded_by`` ``wallet``: the wallet was debited), or the merchant's own saved
    card, its explicit choice (``own``); never the merchant's card for a wallet that pays."""
    settings = await _stripe(wallet)
    if wallet.funded_by != OWN:
        if wallet.env == STAGING:
            return _Tokens(settings, TEST_CARD)
        method = wallet.settings.treasury_stripe_payment_method
        if method is None:
            raise _unsupported(
                "The operator's treasury has no payment method for MPP "
                "(AITOPUP_TREASURY_STRIPE_PAYMENT_METHOD)"
            )
        return _Tokens(settings, method)
    saved = await auto_top_up.saved_method(wallet.db, wallet.merchant_id, wallet.env)
    if wallet.env == STAGING:
        return _Tokens(settings, saved.payment_method if saved is not None else TEST_CARD)
    if saved is None or saved.provider != STRIPE:
        raise ApiError(
            Code.AUTO_TOP_UP_NO_PAYMENT_METHOD,
            "Save a card first (POST /wallet/auto-top-up/setup): an agent's MPP payment issues "
            "a Shared Payment Token from it; nothing was paid",
        )
    return _Tokens(settings, saved.payment_method)


class MppPayer(Payer):
    name: ClassVar[str] = MPP

    def demand(
        self, settings: Settings, challenge: str, now: datetime, *, env: str
    ) -> Demand | None:
        text = challenge.strip()
        if text[:8].lower() != "payment ":
            return None
        found = _parsed(text)
        if (found.method, found.intent) != (challenges.METHOD, challenges.INTENT):
            raise _unsupported("Only MPP's Stripe method's charge intent is paid")
        request = found.request
        currency, amount = request.get("currency"), request.get("amount")
        if not isinstance(currency, str) or currency.lower() != CURRENCY:
            raise _unsupported("Only MPP challenges in US dollars (usd) are paid")
        if not (isinstance(amount, str) and amount.isascii() and amount.isdigit()):
            raise _malformed("asks no amount in whole cents")
        if len(amount) > len(str(MOST_CENTS)) or not 0 < int(amount) <= MOST_CENTS:
            raise _malformed("asks an amount Stripe cannot charge")
        details: Any = request.get("methodDetails")
        network_id = details.get("networkId") if isinstance(details, dict) else None
        if not isinstance(network_id, str) or not 0 < len(network_id) <= 255:
            raise _malformed("names no Stripe network profile (methodDetails.networkId)")
        expires_at = _expiry(settings, found, now)
        own = _own(settings, found, env)
        return Demand(
            protocol=MPP,
            amount_cents=int(amount),
            currency=CURRENCY,
            payee=found.realm,
            payee_names=(network_id,),
            header=found.credential_header,
            expires_at=expires_at,
            kept=_Kept(found, network_id, env, own),
            once=found.id,
        )

    def treasury_set(self, settings: Settings) -> bool:
        return settings.treasury_stripe_payment_method is not None

    async def treasury_cents(
        self, db: Database, sealer: Any, settings: Settings, env: str
    ) -> int | None:
        """What the operator's Stripe account can still spend on its Issuing cards, in live
        (``stripe_balance``): the treasury's card spends it where Stripe issued it; ``None``
        where the account has no Issuing balance, or no treasury card is set. Staging's
        wallets pay with test cards."""
        if env == STAGING or not self.treasury_set(settings):
            return None
        account = await _account(db, settings, env)
        return await stripe_balance.issuing_cents(account, CURRENCY)

    async def ready(self, wallet: Wallet, demand: Demand) -> None:
        """Refused before the debit as ``make`` would refuse it: where a token is issued from
        (the Stripe account's credentials, the treasury's payment method or the merchant's
        saved card) read without asking Stripe; this gateway's own staging challenge needs
        none."""
        if _kept(wallet, demand).own is None:
            await _tokens(wallet)

    def destination(self, demand: Demand) -> str:
        """The seller's Stripe profile the challenge names (``methodDetails.networkId``): the
        account a Shared Payment Token is issued to, whatever realm the challenge states."""
        assert isinstance(demand.kept, _Kept)
        return f"{MPP}:{demand.kept.network_id}"

    async def make(self, wallet: Wallet, demand: Demand, *, payment_id: str) -> Made:
        kept = _kept(wallet, demand)
        if kept.own is not None:
            nonce = _sandbox_nonce(wallet.settings, payment_id)
            token = sandbox_spt.mint(
                wallet.settings, kept.own, demand.amount_cents, CURRENCY, nonce=nonce
            )
            return Made(_credential(kept.challenge, token), token)
        tokens = await _tokens(wallet)
        issued = await stripe_issued.issue_token(
            tokens.settings,
            payment_method=tokens.payment_method,
            network_id=kept.network_id,
            amount_cents=demand.amount_cents,
            currency=CURRENCY,
            expires_at=demand.expires_at,
            key=payment_id,
        )
        if issued.status == "requires_action":
            # The card asks its holder to confirm (3-D Secure): no seller could capture with
            # it while no one is present. Ended at once, as a retry finds it ended too.
            with suppress(ApiError):
                await stripe_issued.revoke_token(tokens.settings, issued.id)
            raise ApiError(
                Code.PAYMENT_PROVIDER_ERROR,
                "The saved card asks its holder to confirm each payment: it cannot pay an "
                "agent's; nothing was paid",
                data={"provider_status": 402, "provider_code": issued.status},
            )
        return Made(_credential(kept.challenge, issued.id), issued.id)

    async def used(
        self, wallet: Wallet, demand: Demand, made: Made, *, now: datetime
    ) -> tuple[Use, int]:
        kept = _kept(wallet, demand)
        if kept.own is None:
            token = await stripe_issued.retrieve_token(await _stripe(wallet), made.reference)
            if token.captured_cents > 0:
                return "used", token.captured_cents
            return ("gone", 0) if token.deactivated_reason is not None else ("unused", 0)
        claim = await claim_of(
            wallet.db,
            channel=MPP,
            env=STAGING,
            session_id=kept.challenge.id,
            credential=digest(made.reference),
        )
        if claim is None:
            # A credential checked just before its challenge's expiry is charged within the
            # payment's bound; past both, none will be.
            late = timedelta(seconds=wallet.settings.payment_timeout_seconds + 60)
            return ("gone", 0) if now >= demand.expires_at + late else ("unused", 0)
        if not claim.mine or claim.status in ("failed", "expired"):
            return "gone", 0
        return ("used", claim.amount_cents) if claim.status == "completed" else ("unused", 0)

    async def revoke(self, wallet: Wallet, demand: Demand, made: Made) -> None:
        """Revoked at Stripe; a sandbox token has no issuer to revoke it, and its challenge's
        expiry ends it."""
        if _kept(wallet, demand).own is None:
            await stripe_issued.revoke_token(await _stripe(wallet), made.reference)


def _kept(wallet: Wallet, demand: Demand) -> _Kept:
    kept = demand.kept
    if not isinstance(kept, _Kept) or kept.env != wallet.env:
        raise _unsupported("This demand was read for a wallet of another environment")
    return kept
