"""The limits the gateway keeps on what outsiders and merchants make it do: failed
authentications before a lockout, anonymous doors' rates per client address, each merchant's
calls a minute that cost someone else (a payment provider, a receiver, the gateway's CPU), and
the rows a merchant may keep of each kind (docs/security.md lists every throttle and cap and
its failure mode). A part of ``Settings``, read from the same ``AITOPUP_*`` variables."""

from pydantic import Field
from pydantic_settings import BaseSettings

__all__ = ["LimitSettings"]


class LimitSettings(BaseSettings):
    # Failed authentications (a malformed, unknown or revoked key; a refused admin token),
    # counted per client address and per pair of client and key prefix over the window (a
    # prefix is public: its failures elsewhere never lock its owner out); past a limit every
    # attempt on it gets 429 until the window ends, the right credential too (docs/security.md,
    # "Rate limits").
    auth_failures_per_client: int = Field(default=60, ge=1)
    auth_failures_per_key_prefix: int = Field(default=20, ge=1)
    admin_failures_per_client: int = Field(default=20, ge=1)
    auth_failure_window_seconds: int = Field(default=300, ge=1)
    # Dashboard sign-ups a client address may attempt an hour: each makes a merchant and
    # hashes a password (argon2id), work an anonymous caller must not be able to repeat at will.
    signups_per_client_per_hour: int = Field(default=10, ge=1)
    # OAuth clients that register themselves (RFC 7591), per client address.
    oauth_registrations_per_client_per_hour: int = Field(default=10, ge=1)
    # Requests to /oauth/authorize, /oauth/token and /oauth/revoke per client address a minute,
    # the three together: each may make the gateway read a client's metadata document.
    oauth_requests_per_client_per_minute: int = Field(default=60, ge=1)
    # A payment channel's notifications (Stripe's events too) per source address a minute.
    payment_notices_per_client_per_minute: int = Field(default=600, ge=1)
    # Views of a recipient's page (and its live stream) per client address a minute.
    recipient_pages_per_client_per_minute: int = Field(default=120, ge=1)
    # Password hashes (argon2id: 64 MiB and four lanes each) one process runs at once; a
    # sign-in, sign-up or password set past it is refused with 503 instead of queued.
    password_hashes_per_process: int = Field(default=4, ge=1)
    # Calls a merchant may make a minute, both environments together.
    redeem_attempts_per_minute: int = Field(default=20, ge=1)
    webhook_tests_per_minute: int = Field(default=10, ge=1)
    webhook_replays_per_minute: int = Field(default=60, ge=1)
    webhook_recovers_per_minute: int = Field(default=5, ge=1)
    # Connection tests of a fulfilment upstream: each calls an address the merchant chose.
    fulfilment_tests_per_minute: int = Field(default=10, ge=1)
    # Calls that reach the payment provider (checkouts, invoices, payment checks), a merchant
    # a minute in each environment: each is a call on the operator's own Stripe account.
    payment_calls_per_minute: int = Field(default=20, ge=1)
    # Payments to sellers an agent asks for (``POST /payments``, MCP ``pay_challenge``), a
    # merchant a minute in each environment: each made credential is a call on the operator's
    # Stripe account or a chain's node. Higher than the calls above: an agent may pay a seller
    # at each request it makes.
    seller_payments_per_minute: int = Field(default=120, ge=1)
    # Receipt PDFs a merchant may have drawn a minute in each environment: each is a page of
    # layout on the gateway's own CPU.
    receipt_pdfs_per_minute: int = Field(default=30, ge=1)
    # Advances of a merchant's staging test clock a minute: each renews what it passes.
    test_clock_advances_per_minute: int = Field(default=10, ge=1)
    # Unpaid, unexpired checkouts a merchant may have open in each environment.
    max_open_orders_per_merchant_env: int = Field(default=20, ge=1)
    # Endpoints (not deleted) a merchant may have in each environment: one event fans out to
    # every one of them.
    max_endpoints_per_merchant_env: int = Field(default=20, ge=1)
    # Pollers (``webhooks.pollers``) per merchant and environment, and their reads a minute from
    # one client address (a read is a look-up by key; the limit bounds a guesser's work too).
    max_pollers_per_merchant_env: int = Field(default=10, ge=1)
    poller_reads_per_client_per_minute: int = Field(default=600, ge=1)
    # How old an event must be before a poller is given it: events are read in id order, and
    # an event's id is taken before its transaction commits, so one written by a slower
    # transaction could commit behind an iterator that passed its id. Far longer than a write's
    # transaction may run.
    webhook_poller_settle_seconds: float = Field(default=5.0, ge=0)
    # Keys (not revoked) a merchant may have in each environment: a key with the ``keys`` scope
    # makes keys, and each is a row the store keeps and a lookup's index holds.
    max_keys_per_merchant_env: int = Field(default=100, ge=1)
    # The daily limit, in cents, a consent to an unverified app (one that registered itself)
    # gets unless the person widens it, for a merchant that set none of its own.
    unverified_app_daily_cents: int = Field(default=1000, ge=1, le=10**12)
    # Consents given to apps (not revoked) per merchant and environment, counted apart from the
    # keys: each is a key row its app acts as, and members make them, not the merchant's code.
    max_consents_per_merchant_env: int = Field(default=100, ge=1)
    # Consents one dashboard member may give a minute, whatever merchant: each makes a key.
    consents_per_member_per_minute: int = Field(default=10, ge=1)
