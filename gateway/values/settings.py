"""Runtime settings, read from ``AITOPUP_*`` environment variables and ``.env``."""

import functools
import ipaddress
import socket

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from .limit_settings import LimitSettings
from .setting_lists import cents_list, hosts, origins, schedule, tiers
from .treasury_settings import TreasurySettings

__all__ = [
    "STORE_COMMAND_TIMEOUT_SECONDS",
    "STORE_POOL_TIMEOUT_SECONDS",
    "Settings",
    "is_loopback",
    "load_settings",
]

# The admin token is the whole of the operators' credential: long enough that guessing it is
# hopeless even before the lockout (``gateway.lockout``) slows guessing down.
_ADMIN_TOKEN_MIN = 32
# The store's bounds by default (``database_command_timeout_seconds``, ``…_pool_timeout_…``),
# also what a store opened without settings (the command line's) keeps.
STORE_COMMAND_TIMEOUT_SECONDS = 15.0
STORE_POOL_TIMEOUT_SECONDS = 5.0


class Settings(TreasurySettings, LimitSettings):
    model_config = SettingsConfigDict(env_prefix="AITOPUP_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./aitopup.db"
    # PostgreSQL connections a gateway process keeps, for SQLAlchemy's pool and for the hot
    # path's own asyncpg pool alike (SQLAlchemy may open as many again past it under load).
    database_pool_size: int = Field(default=10, ge=1, le=100)
    # PostgreSQL, from this side: how long one statement (and a new connection's handshake)
    # may take, and how long a call waits for a pooled connection. A server that stalls (a
    # stopped process, a full disk, a network that drops packets) answers nothing and closes
    # nothing: without these a call waits as long as it does. Past either, the call is
    # answered 503 (9003) and the worker's try is put off.
    database_command_timeout_seconds: float = Field(
        default=STORE_COMMAND_TIMEOUT_SECONDS, gt=0, le=3600
    )
    database_pool_timeout_seconds: float = Field(default=STORE_POOL_TIMEOUT_SECONDS, gt=0, le=600)
    # Off behind a pooler in transaction mode keeping no prepared statements (docs/operations.md).
    database_statement_cache: bool = True
    # On behind any pooler in transaction mode, one that keeps prepared statements too: no
    # setting rides in a connection's startup message, which PgBouncer refuses (the workers'
    # planner settings are their role's). The cache off says as much by itself.
    database_pooled: bool = False
    redis_url: str = "redis://127.0.0.1:6379/0"
    # How long a call a request can do without waits for Redis (``redis_client.ANSWER_WITHIN``).
    redis_answer_seconds: float = Field(default=0.5, gt=0, le=3600)
    # Work a process does by the clock, once a second by default: its keys' request counts
    # written to Redis (``key_requests``), and the lockout's look again at a bucket it knew open
    # (``lockout``: a lockout another process records takes effect here within it). A process
    # counted under callgrind raises both, so its count is of requests, not of its pace.
    key_request_counts_flush_seconds: float = Field(default=1.0, gt=0, le=3600)
    lockout_recheck_seconds: float = Field(default=1.0, gt=0, le=3600)
    # Secrets have no defaults: a gateway without them must not start. `aitopup run` writes a
    # fresh pair into .env on first start.
    key_pepper: SecretStr = Field(min_length=16)
    secret_key: SecretStr = Field(min_length=16)
    # Unset or empty: the admin API is off. Set, at least 32 characters (``_admin_token_long``).
    admin_token: SecretStr | None = None

    max_topup_cents: int = Field(default=100_000, ge=1)
    max_sandbox_fund_cents: int = Field(default=10_000_000, ge=1)
    staging_initial_balance_cents: int = Field(default=100_000, ge=0)
    default_low_balance_threshold_cents: int = Field(default=1_000, ge=0)
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=1)
    # A send held for approval is refunded (``topup.approval_expired``) when no one decides it
    # within this.
    approval_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # The limits on what outsiders and merchants make the gateway do: ``limit_settings``.

    allow_private_webhook_urls: bool = False
    webhook_retry_schedule: str = "0,5,30"
    # The schedule of an endpoint that asks for the long one (``retry_schedule: "long"``):
    # Standard Webhooks' example, immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h,
    # about a day and a half in all, inside the disable window.
    webhook_long_retry_schedule: str = "0,5,300,1800,7200,18000,36000,36000"
    # A delivery that succeeds after this many failed attempts of its run tells the merchant's
    # other endpoints so (``delivery.recovered``), as Svix's ``message.attempt.recovered``.
    webhook_recovered_after_failures: int = Field(default=2, ge=1)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # Open connections to receivers per worker process, and so attempts in flight at once.
    webhook_max_connections: int = Field(default=200, ge=1)
    # How many of them one merchant's attempts may hold at once; unset, a quarter of them. A
    # merchant's further attempts wait for its own (``webhook_merchant_connections``).
    webhook_max_connections_per_merchant: int | None = Field(default=None, ge=1)
    # A receiver's response head, as the worker reads it: the status line, the header lines,
    # and their names and values together. Past any of them the attempt fails and the
    # connection is dropped.
    webhook_max_response_line_bytes: int = Field(default=8 * 1024, ge=64)
    webhook_max_response_headers: int = Field(default=100, ge=1)
    webhook_max_response_header_bytes: int = Field(default=64 * 1024, ge=1024)
    # The contract's name is AITOPUP_WEBHOOK_DISABLE_AFTER; the unit-bearing name works too.
    webhook_disable_after_seconds: int = Field(
        default=5 * 24 * 3600,
        ge=1,
        validation_alias=AliasChoices(
            "webhook_disable_after_seconds",
            "AITOPUP_WEBHOOK_DISABLE_AFTER",
            "AITOPUP_WEBHOOK_DISABLE_AFTER_SECONDS",
        ),
    )
    # The share of that window an endpoint must have been failing before its merchant's owners
    # are warned by e-mail, once per failing run: time to act before it is disabled.
    webhook_disable_warning_share: float = Field(default=0.5, gt=0, lt=1)
    # Operational events (``endpoint.*``, ``delivery.exhausted``) a merchant makes an hour in an
    # environment; each goes to every other endpoint, so this bounds their deliveries too.
    webhook_operational_events_per_hour: int = Field(default=60, ge=1)

    # Fulfilment by an upstream (New API, OpenRouter). The send answers ``1001`` when the
    # upstream answers within ``fulfilment_inline_seconds``, else ``1002`` and the worker
    # finishes it. Each later try waits the next delay of the schedule; after the last, the
    # top-up fails and is refunded. One try is bounded by ``fulfilment_timeout_seconds``.
    fulfilment_inline_seconds: float = Field(default=2.0, ge=0, le=30)
    fulfilment_retry_schedule: str = "5,30,120,600"
    fulfilment_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # How many of an environment's upstream connections (100) one merchant's calls may hold at
    # once; unset, a quarter of them. A call past it waits for the merchant's own slot.
    fulfilment_max_connections_per_merchant: int | None = Field(default=None, ge=1)

    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    stripe_timeout_seconds: float = Field(default=20.0, gt=0)
    # A test-mode key (``sk_test_``/``rk_test_``) staging's agent wallets issue Shared Payment
    # Tokens with for sellers other than this gateway; unset, staging pays only its own.
    stripe_staging_secret_key: SecretStr | None = None
    # Safe to retry: every session create carries the order id as its Idempotency-Key.
    stripe_max_network_retries: int = Field(default=2, ge=0, le=5)
    # The whole of one exchange with a payment channel's API (``billing.channels.registry``: Creem,
    # MyFatoorah, Epay...); Stripe keeps its own above.
    payment_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    # The base of every absolute link (``mail.links.public_base``).
    public_base_url: str | None = None
    # Set by ``aitopup serve`` and ``make run`` beside the ``public_base_url`` they guessed (it
    # was unset): the host they bind. Never set by hand; the Go live page reads it.
    public_base_url_guessed_for: str | None = None
    # How long a staging sandbox checkout can be paid; then it expires and gives its coupon use
    # back. Live orders expire with their Stripe Checkout Session instead.
    sandbox_order_ttl_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)

    # Custom-amount checkout (``POST /billing/checkout {amount_cents}``): on or off, its bounds
    # and step in cents, the amounts offered as buttons, and discount tiers
    # (``"10000:5,50000:10"``: from 10,000 cents 5% off, from 50,000 10% off; the highest tier
    # reached applies). One rule reads them (``billing.orders.pricing``).
    funding_custom_amounts: bool = True
    funding_min_cents: int = Field(default=500, ge=50)
    funding_max_cents: int = Field(default=1_000_000, ge=50, le=100_000_000)
    funding_step_cents: int = Field(default=100, ge=1)
    funding_amount_options: str = "1000,2000,5000,10000,50000"
    funding_discount_tiers: str = ""
    # Agents paying their own way (``protocols.mpp.challenges``): how long the MPP challenge a
    # 402 carries may be paid, and what its Stripe method names: the Stripe Business Network
    # profile the Shared Payment Tokens are granted to, and the payment method types taken.
    mpp_challenge_ttl_seconds: int = Field(default=300, ge=10, le=3600)
    mpp_network_id: str = Field(default="profile_aitopup", min_length=1, max_length=255)
    mpp_payment_method_types: str = "card,link"
    # x402 v2 (``protocols.x402.offers``), offered beside MPP on a 402 once the operator sets where
    # the money goes (``x402_pay_to``) and the facilitator that verifies and settles it: the
    # CAIP-2 network, the asset (its contract, and its EIP-712 domain's name and version), and
    # how many of its smallest units make a cent (USDC, 6 decimals: 10,000).
    x402_pay_to: str | None = Field(default=None, max_length=100)
    x402_facilitator_url: str | None = None
    x402_network: str = Field(
        default="eip155:84532", pattern=r"^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$"
    )
    x402_asset: str = Field(default="0x036CbD53842c5426634e7929541eC2318f3dCF7e", max_length=100)
    x402_asset_name: str = "USDC"
    x402_asset_version: str = "2"
    x402_units_per_cent: int = Field(default=10_000, ge=1)
    # Staging's x402, on its own terms so staging never offers or settles the live network: the
    # facilitator (``aitopup dev x402``'s stand-in, which ``make run`` starts and names here) and
    # the address paid, always on Base Sepolia's USDC (``protocols.x402.offers.STAGING``).
    x402_staging_pay_to: str | None = Field(default=None, max_length=100)
    x402_staging_facilitator_url: str | None = None
    # Ethereum JSON-RPC of the network an agent's wallet pays x402 on, asked whether a seller
    # used its authorization (live; staging's, which ``make run`` sets to its stand-in's).
    x402_rpc_url: str | None = None
    x402_staging_rpc_url: str | None = None
    # The operator's treasury and its alerts: ``treasury_settings``.
    # CSV exports (ledger, top-ups, orders): the longest date range and the most rows one
    # export streams; past either the request is refused before anything is sent.
    funding_export_max_days: int = Field(default=366, ge=1, le=3660)
    funding_export_max_rows: int = Field(default=1_000_000, ge=1)
    # Reconciliation: the worker looks up pending Stripe orders older than this at Stripe (their
    # webhook may never have come), at most this many per sweep, every ``interval`` seconds.
    reconcile_after_seconds: int = Field(default=600, ge=0)
    reconcile_batch: int = Field(default=100, ge=1, le=1000)
    reconcile_interval_seconds: int = Field(default=300, ge=10)

    # Browser origins (``scheme://host[:port]``, comma-separated) whose requests ``/mcp``
    # serves, besides ``public_base_url``'s and the gateway's own (``http://localhost:PORT``, …,
    # the address and port it is reached on); a request with any other ``Origin`` header gets
    # 403 (DNS rebinding, as the MCP transport asks). A request without one (not from a
    # browser) is served.
    mcp_allowed_origins: str = ""
    # Host names (comma-separated) ``/mcp`` answers to besides ``public_base_url``'s and the
    # gateway's own (``localhost``, ``127.0.0.1``, ``[::1]``, the address it is reached on): a
    # request whose ``Host`` names any other gets 421, so a name rebound to the gateway's
    # address reaches nothing. Behind a proxy that passes the client's ``Host`` on, set
    # ``public_base_url`` or name the host here.
    mcp_allowed_hosts: str = ""
    # Open live streams of the dashboard (``/dashboard/live``) per signed-in user and per gateway
    # process; past either a new stream gets 429 and the page retries later. The process's cap
    # sits well below ``server_limit_concurrency``, so streams never take every connection.
    live_streams_per_user: int = Field(default=5, ge=1)
    live_streams_per_process: int = Field(default=200, ge=1)
    # One merchant's share of the process's streams (its users' and its recipients' pages):
    # unset, a tenth of ``live_streams_per_process`` and at least 10 (20 of the default 200).
    live_streams_per_merchant: int | None = Field(default=None, ge=1)

    # Anyone may create a merchant account on the dashboard's sign-up page; off, only
    # operators make merchants and invite users (``aitopup users invite``, the admin API).
    signup_open: bool = True

    # E-mail (``gateway.mail``, sent by the worker). ``smtp://user:pass@host:port`` (STARTTLS
    # when the server offers it, or always with ``smtp_starttls`` true) or ``smtps://`` (TLS from
    # the first byte). Unset: live mail waits in the outbox, retried, and fails with that reason.
    # The Telegram bot (``gateway.telegram``): its token from @BotFather (unset: no bot), the
    # Bot API's base URL (a stand-in on loopback in tests), the secret ``setWebhook`` gives
    # Telegram to send back on every update, how many updates one chat and one Telegram user may
    # each post a minute (counted once the secret checks out), and how long a chat's one-time
    # link code works.
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org"
    telegram_webhook_secret: SecretStr | None = None
    telegram_updates_per_chat_per_minute: int = Field(default=60, ge=1)
    telegram_link_code_ttl_seconds: int = Field(default=900, ge=60, le=24 * 3600)
    smtp_url: SecretStr | None = None
    smtp_starttls: bool | None = None  # None: when offered; true: required; false: never
    smtp_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    # The From address; the merchant's name goes in front of it as the display name.
    mail_from: str = Field(default="noreply@aitopup.localhost", min_length=3, max_length=200)
    # Seconds before attempts 1, 2, … of a mail; past the last it is ``failed``.
    mail_retry_schedule: str = "0,10,60,300,1800"
    # How long a password-reset link works (single use), and how many resets a client address
    # and an address may ask for an hour.
    mail_reset_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    mail_resets_per_client_per_hour: int = Field(default=10, ge=1)
    mail_resets_per_address_per_hour: int = Field(default=3, ge=1)
    # The recipient's page: how long a link works, and how many fresh links a client address
    # and an address may ask for an hour.
    recipient_link_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=90 * 24 * 3600)
    recipient_links_per_client_per_hour: int = Field(default=10, ge=1)
    recipient_links_per_address_per_hour: int = Field(default=3, ge=1)
    # Voucher mails an hour, per environment: to one address from one merchant, and from one
    # merchant in all. Past either the credit is delivered and the mail held (``mail.caps``).
    voucher_mails_per_recipient_per_hour: int = Field(default=5, ge=1)
    voucher_mails_per_merchant_per_hour: int = Field(default=200, ge=1)
    # Mails asking a merchant's approvers to decide its held sends, an hour per environment;
    # past it the sends wait in the dashboard's approvals inbox, unmailed (``mail.caps``).
    approval_mails_per_merchant_per_hour: int = Field(default=60, ge=1)

    # Both can be turned off, e.g. to measure what they cost.
    access_log: bool = True
    metrics: bool = True
    # Set, GET /metrics answers only ``Authorization: Bearer <token>`` (compared in constant
    # time); unset, it answers anyone who reaches it, so keep it off public networks then.
    metrics_token: SecretStr | None = Field(default=None, min_length=32)
    log_level: str = "INFO"
    # The worker's line for an attempt that succeeded (every attempt is in the delivery log, and
    # counted in the metrics, either way); off, only attempts that failed get a line.
    webhook_log_successes: bool = False
    # The worker has no HTTP app, so it serves /metrics on a port of its own; None: not served.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # The gateway's HTTP server (uvicorn). Connections and requests one process holds before it
    # answers 503 at once, so a flood costs a refusal, not memory; the reverse proxy's own caps
    # sit below it. An idle keep-alive connection is closed after this long.
    server_limit_concurrency: int = Field(default=1000, ge=1)
    server_keep_alive_seconds: int = Field(default=5, ge=1)
    # A client's request head must arrive whole within this of its first byte, and its body with
    # no pause longer than this, or the connection is cut (``ops.deadlines``; nginx's
    # client_header_timeout and client_body_timeout); a head past the size is cut too.
    server_header_timeout_seconds: float = Field(default=10.0, gt=0)
    server_body_timeout_seconds: float = Field(default=10.0, gt=0)
    server_max_head_bytes: int = Field(default=32 * 1024, ge=1024)
    # Peers whose X-Forwarded-For and X-Forwarded-Proto are believed (comma-separated addresses
    # or networks, or *): the reverse proxy's, so the client's own address is the one seen.
    forwarded_allow_ips: str = "127.0.0.1"

    # Events, deliveries and attempts older than this are pruned by the worker (an operator may
    # set a merchant's own, ``merchants.retention_days``); the ledger, top-ups and orders are
    # kept. Svix's horizon. Each prune batch is one short transaction of at most this many rows.
    retention_days: int = Field(default=90, ge=1, le=3650)
    retention_batch_size: int = Field(default=1000, ge=1, le=10_000)
    # An idle worker waits for a wake (or its next row falling due) instead of reading its
    # tables often; it also looks on its own this often, in case a wake was lost (Redis away).
    worker_idle_poll_seconds: float = Field(default=1.0, gt=0, le=60)

    @field_validator("admin_token")
    @classmethod
    def _admin_token_long(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < _ADMIN_TOKEN_MIN:
            raise ValueError(
                f"AITOPUP_ADMIN_TOKEN must be at least {_ADMIN_TOKEN_MIN} characters (make one "
                "with: python -c 'import secrets; print(secrets.token_urlsafe(32))'), or unset "
                "to turn the admin API off"
            )
        return value

    @field_validator("stripe_staging_secret_key")
    @classmethod
    def _test_mode_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not value.get_secret_value().startswith(("sk_test_", "rk_test_")):
            raise ValueError("staging takes a test-mode key only (sk_test_ or rk_test_)")
        return value

    @field_validator(
        "webhook_retry_schedule",
        "webhook_long_retry_schedule",
        "fulfilment_retry_schedule",
        "mail_retry_schedule",
    )
    @classmethod
    def _schedule_is_numbers(cls, value: str) -> str:
        delays = [float(part) for part in value.split(",") if part.strip()]
        if not delays or any(d < 0 for d in delays):
            raise ValueError("a comma-separated list of non-negative seconds")
        return value

    @field_validator("funding_amount_options")
    @classmethod
    def _options_are_cents(cls, value: str) -> str:
        cents_list(value)
        return value

    @field_validator("funding_discount_tiers")
    @classmethod
    def _tiers_are_pairs(cls, value: str) -> str:
        tiers(value)
        return value

    @property
    def behind_pooler(self) -> bool:
        """Every PostgreSQL connection goes through a pooler in transaction mode: said, or
        implied by the statement cache off (a pooler keeping no prepared statements)."""
        return self.database_pooled or not self.database_statement_cache

    @property
    def funding_options(self) -> tuple[int, ...]:
        """The custom amounts offered as buttons, in cents, ascending."""
        return cents_list(self.funding_amount_options)

    @property
    def funding_tiers(self) -> tuple[tuple[int, int], ...]:
        """Discount tiers as ``(from_cents, percent_off)``, ascending by ``from_cents``."""
        return tiers(self.funding_discount_tiers)

    @property
    def mail_retry_delays(self) -> list[float]:
        """Delay before each attempt of a mail, as ``retry_delays`` for webhooks."""
        return list(schedule(self.mail_retry_schedule))

    @property
    def retry_delays(self) -> list[float]:
        """Delay before each attempt: attempt N waits ``retry_delays[N-1]`` after attempt N-1."""
        return list(schedule(self.webhook_retry_schedule))

    @property
    def long_retry_delays(self) -> list[float]:
        """``retry_delays`` of an endpoint on the long schedule."""
        return list(schedule(self.webhook_long_retry_schedule))

    @property
    def fulfilment_retry_delays(self) -> list[float]:
        """Delay before each retry of an upstream: retry N waits ``[N-1]`` after try N."""
        return list(schedule(self.fulfilment_retry_schedule))

    @property
    def webhook_merchant_connections(self) -> int:
        """How many attempts of one merchant a worker runs at once."""
        share = self.webhook_max_connections_per_merchant or self.webhook_max_connections // 4
        return max(1, min(share, self.webhook_max_connections))

    def fulfilment_merchant_connections(self, pool: int) -> int:
        """How many upstream calls of one merchant a pool of ``pool`` connections runs at once."""
        share = self.fulfilment_max_connections_per_merchant or pool // 4
        return max(1, min(share, pool))

    @property
    def live_streams_merchant_share(self) -> int:
        """How many of the process's live streams one merchant may hold at once."""
        share = self.live_streams_per_merchant or max(10, self.live_streams_per_process // 10)
        return min(share, self.live_streams_per_process)

    @property
    def mcp_origins(self) -> frozenset[str]:
        """The browser origins ``/mcp`` serves, each as ``scheme://host[:port]`` in lower case."""
        return origins(self.mcp_allowed_origins, self.public_base_url)

    @property
    def mcp_hosts(self) -> frozenset[str]:
        """The host names ``/mcp`` answers to by configuration, in lower case, without port or
        brackets: ``mcp_allowed_hosts`` and ``public_base_url``'s."""
        return hosts(self.mcp_allowed_hosts, self.public_base_url)

    @property
    def public_base_guessed(self) -> bool:
        """Whether links are built on a guess: ``public_base_url`` unset, or set by ``serve`` or
        ``make run`` to the address they serve on (``public_base_url_guessed_for``)."""
        return not self.public_base_url or self.public_base_url_guessed_for is not None


@functools.lru_cache(maxsize=16)
def is_loopback(host: str) -> bool:
    """Every address ``host`` names is a loopback one (a name is resolved; failing that, no)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    return bool(found) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in found)


def _said(message: str) -> str:
    return message.removeprefix("Value error, ")


def load_settings() -> Settings:
    """The settings from the environment and ``.env``. A bad one ends the process with one
    plain line that names each offending variable and what is wrong with it (never its value,
    which may be a secret), as an operator reads it, rather than a validation traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"AITOPUP_{'_'.join(str(part) for part in error['loc']).upper()}: {_said(error['msg'])}"
            if error["loc"]
            else _said(error["msg"])
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise SystemExit("aitopup: bad setting " + "; ".join(problems)) from None
