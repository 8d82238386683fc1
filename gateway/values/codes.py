"""The code catalogue: the single source of every ``code`` the API answers with.

Bands: 1xxx success, 2xxx auth and keys, 3xxx validation, 4xxx wallet and transactions,
5xxx webhooks, 9xxx internal. A code's number never changes meaning once published.
"""

from dataclasses import dataclass
from enum import IntEnum

__all__ = ["CATALOGUE", "Code", "CodeInfo"]


class Code(IntEnum):
    SUCCESS = 1000
    TOPUP_DELIVERED = 1001
    TOPUP_PENDING = 1002
    TOPUP_CANCELLED = 1003
    CREATED = 1004
    DELETED = 1005
    TOPUP_AWAITING_APPROVAL = 1006
    TOPUP_DENIED = 1007
    VOUCHER_REDEEMED = 1008
    PAYMENT_CHECKED = 1120
    CHECKED_IN = 1130

    RECIPIENT_LINK_REQUESTED = 1110
    PASSWORD_RESET_REQUESTED = 1111
    PASSWORD_RESET_DONE = 1112
    SIGNED_UP = 1113
    RECIPIENT_LINKS_REVOKED = 1114
    BILLING_PROFILE_SAVED = 1150
    REFUND_PENDING = 1160

    SUBSCRIPTION_CHECKED = 1140
    SUBSCRIPTION_CHANGED = 1141

    AUTH_MISSING = 2001
    AUTH_MALFORMED = 2002
    AUTH_UNKNOWN = 2003
    AUTH_REVOKED = 2004
    ENV_NOT_ALLOWED = 2005
    API_KEY_NOT_FOUND = 2006
    ORIGIN_NOT_ALLOWED = 2007
    HOST_NOT_ALLOWED = 2008

    ADMIN_DISABLED = 2101
    ADMIN_TOKEN_MISSING = 2102
    ADMIN_TOKEN_INVALID = 2103
    ADMIN_API_KEY_REFUSED = 2104

    AUTH_RATE_LIMITED = 2201
    ADMIN_RATE_LIMITED = 2202
    AUTH_HEADER_REPEATED = 2203
    REDEMPTION_RATE_LIMITED = 2204
    LIVE_STREAMS_LIMITED = 2205
    RECIPIENT_LINKS_RATE_LIMITED = 2206
    PASSWORD_RESETS_RATE_LIMITED = 2207
    PAYMENT_CALLS_RATE_LIMITED = 2208
    PAYMENT_NOTICES_RATE_LIMITED = 2209
    CONSENTS_RATE_LIMITED = 2212

    KEY_SCOPE_MISSING = 2301
    KEY_EXPIRED = 2302
    KEY_RATE_LIMITED = 2303
    KEY_LIMIT_REACHED = 2304
    KEY_PER_SEND_CAP = 2305
    KEY_PER_RECIPIENT_LIMIT = 2306
    KEY_PLATFORM_NOT_ALLOWED = 2307
    KEY_RECIPIENT_NOT_ALLOWED = 2308
    KEY_SELF_APPROVAL = 2309
    KEY_SCOPE_NOT_GRANTABLE = 2310
    KEY_COUNT_LIMIT_REACHED = 2311
    KEY_REVEAL_NOT_GRANTABLE = 2312
    CONSENT_COUNT_LIMIT_REACHED = 2313
    KEY_RULE_REFUSES_CHARGE = 2316
    KEY_LIMIT_NOT_GRANTABLE = 2317

    ROLE_NOT_ALLOWED = 2320
    LAST_OWNER = 2321
    MEMBER_NOT_FOUND = 2322
    ROLE_INVALID = 2323
    ROLE_SCOPE_NOT_GRANTABLE = 2324

    SIGN_IN_FAILED = 2330
    PASSWORD_INCORRECT = 2331
    ACCOUNT_LINK_INVALID = 2332
    INVITATION_NOT_FOUND = 2333

    APPROVAL_LINK_INVALID = 2340
    TELEGRAM_SECRET_INVALID = 2341

    POLICY_TEMPLATE_NOT_FOUND = 2380
    POLICY_TEMPLATE_IN_USE = 2381
    POLICY_TEMPLATE_NESTED = 2382
    POLICY_TEMPLATE_COUNT_LIMIT_REACHED = 2383
    BUDGET_LIMIT_REACHED = 2350
    BUDGET_FROZEN = 2351
    BUDGET_NOT_FOUND = 2352
    BUDGET_DRAWN_ON = 2353
    BUDGET_NOT_IN_ENV = 2354
    BUDGET_COUNT_LIMIT_REACHED = 2355
    ENVIRONMENT_FROZEN = 2360
    FREEZE_BUDGET_NOT_FOUND = 2361
    CARD_FOR_MERCHANT_ONLY = 2390

    APP_NOT_FOUND = 2401
    APP_COUNT_LIMIT_REACHED = 2402
    APP_NOT_CONFIDENTIAL = 2403
    TOKEN_EXPIRED = 2404
    TOKEN_REVOKED = 2405
    TOKEN_WRONG_RESOURCE = 2406
    CONNECTION_NOT_FOUND = 2407
    CONSENT_LIMIT_REACHED = 2410

    FREEZE_LIFT_KEY_LIMITED = 2420
    FREEZE_LIFT_BY_APP = 2421
    FREEZE_LIFT_ROLE = 2422

    VALIDATION_FAILED = 3001
    INVALID_JSON = 3002
    UNSUPPORTED_MEDIA_TYPE = 3003
    BODY_TOO_LARGE = 3004
    INVALID_CURSOR = 3005
    INVALID_QUERY = 3006
    ROUTE_NOT_FOUND = 3007
    METHOD_NOT_ALLOWED = 3008

    DUPLICATE_JSON_KEY = 3101
    JSON_TOO_DEEP = 3102
    TEXT_HOLDS_NUL = 3103

    INSUFFICIENT_BALANCE = 4001
    TRANSACTION_NOT_FOUND = 4002
    IDEMPOTENCY_KEY_REUSED = 4003
    TOPUP_FAILED = 4004
    TOPUP_NOT_CANCELLABLE = 4005
    INVALID_IDEMPOTENCY_KEY = 4006
    TOPUP_NOT_AWAITING_APPROVAL = 4007

    PACK_NOT_FOUND = 4101
    COUPON_NOT_FOUND = 4102
    COUPON_EXPIRED = 4103
    COUPON_EXHAUSTED = 4104
    COUPON_NOT_APPLICABLE = 4105
    PAYMENTS_NOT_CONFIGURED = 4106
    PAYMENT_PROVIDER_ERROR = 4107
    PAYMENT_PROVIDER_TIMEOUT = 4108
    REDEMPTION_CODE_UNKNOWN = 4110
    REDEMPTION_CODE_USED = 4111
    REDEMPTION_CODE_EXPIRED = 4112
    REDEMPTION_CODE_WRONG_ENV = 4113
    STRIPE_SIGNATURE_INVALID = 4120
    STRIPE_WEBHOOK_NOT_CONFIGURED = 4121
    STRIPE_EVENT_MALFORMED = 4122
    STRIPE_EVENT_NOT_PROCESSED = 4123
    ORDER_NOT_FOUND = 4130
    ORDER_NOT_PAYABLE = 4131
    MERCHANT_NOT_FOUND = 4140
    MERCHANT_NAME_TAKEN = 4141
    ADJUSTMENT_BELOW_ZERO = 4142
    PACK_ID_TAKEN = 4143
    COUPON_CODE_TAKEN = 4144
    ORDER_EXPIRED = 4150
    CUSTOM_AMOUNT_OFF = 4151
    CUSTOM_AMOUNT_INVALID = 4152
    RECEIPT_NOT_AVAILABLE = 4153
    EXPORT_RANGE_INVALID = 4154
    REDEMPTION_CODE_VOIDED = 4155
    REDEMPTION_CODE_NOT_FOUND = 4156
    INVOICE_NOT_AVAILABLE = 4157
    OPEN_ORDERS_LIMIT_REACHED = 4158
    INVOICE_EMAIL_NOT_ALLOWED = 4159
    RETURN_URL_INVALID = 4160
    PAYMENT_SESSION_REPEATED = 4161

    FULFILMENT_NOT_CONFIGURED = 4200
    FULFILMENT_URL_INVALID = 4201
    FULFILMENT_UPSTREAM_REFUSED = 4202
    FULFILMENT_UPSTREAM_UNAVAILABLE = 4203
    FULFILMENT_TEST_RATE_LIMITED = 4204
    MAILBOX_STAGING_ONLY = 4230
    EMAIL_NOT_FOUND = 4231
    RECIPIENT_NOT_FOUND = 4232
    RECIPIENT_LINK_INVALID = 4233
    PASSWORD_RESET_LINK_INVALID = 4234
    VOUCHER_NOT_FOUND = 4240
    VOUCHER_ALREADY_REDEEMED = 4241
    VOUCHER_NOT_REDEEMABLE = 4242
    VOUCHER_CODE_INVALID = 4243
    CHARGE_NOT_FOUND = 4250
    CHARGE_NOT_REFUNDABLE = 4251
    CHARGES_FOR_APPS_ONLY = 4252
    CHECKIN_ALREADY_DONE = 4300
    CHECKIN_DISABLED = 4301
    TEST_CLOCK_STAGING_ONLY = 4302
    TEST_CLOCK_TOO_FAR = 4303
    TEST_CLOCK_RATE_LIMITED = 4304
    BILLING_PROFILE_LIVE_ONLY = 4350
    RECEIPT_PDFS_RATE_LIMITED = 4351
    SUBSCRIPTION_INVOICE_NOT_FOUND = 4360

    PLAN_NOT_FOUND = 4320
    PLAN_NOT_PURCHASABLE = 4321
    SUBSCRIPTION_EXISTS = 4322
    SUBSCRIPTION_NOT_FOUND = 4323
    PAYMENT_CHANNEL_UNKNOWN = 4324
    PAYMENT_CHANNEL_NOT_AVAILABLE = 4325
    CHANNEL_AMOUNT_NOT_OFFERED = 4440
    SUBSCRIPTION_NOT_CHANGEABLE = 4326
    SUBSCRIPTION_CHECKOUT_OPEN = 4570
    SUBSCRIPTION_CHECKOUT_NOT_OPEN = 4571
    SUBSCRIPTION_CHECKOUT_NOT_CANCELLABLE = 4572
    LANGUAGE_UNKNOWN = 4620
    MANAGED_KEY_BEYOND_CONSENT = 4630
    MANAGED_KEY_EXISTS = 4631
    MANAGED_KEY_NOT_FOUND = 4632
    MANAGED_KEY_FOR_APPS_ONLY = 4633
    PAYMENT_CHANNEL_NOT_ENABLED = 4400
    PAYMENT_CHANNEL_NOT_CONFIGURED = 4401
    PAYMENT_CHANNEL_KIND_UNSUPPORTED = 4402
    PAYMENT_CHANNEL_CREDENTIALS_INVALID = 4403
    PAYMENT_NOTICE_REFUSED = 4404
    PAYMENT_NOTICE_MALFORMED = 4405
    PAYMENT_NOTICE_NOT_PROCESSED = 4406
    PAYMENT_NOTICE_ORDER_MISMATCH = 4407
    ORDER_NOT_REFUNDABLE = 4480
    REFUND_NOT_SUPPORTED = 4481
    REFUND_EXCEEDS_PAID = 4482
    REFUND_BALANCE_SHORT = 4483
    REFUND_ONLY_IN_FULL = 4484
    PAYMENT_CREDENTIAL_MALFORMED = 4500
    PAYMENT_CHALLENGE_INVALID = 4501
    PAYMENT_CHALLENGE_EXPIRED = 4502
    PAYMENT_VERIFICATION_FAILED = 4503
    PAYMENT_METHOD_UNSUPPORTED = 4504
    PAYMENT_CHALLENGE_TAKEN = 4505
    TELEGRAM_UPDATE_MALFORMED = 4560
    TELEGRAM_UPDATES_RATE_LIMITED = 4561
    TELEGRAM_NOT_CONFIGURED = 4562
    APPROVAL_TOKEN_WRONG_DOOR = 4563
    FORM_BODY_INVALID = 4610
    AUTO_TOP_UP_NOT_FOUND = 4580
    AUTO_TOP_UP_NO_PAYMENT_METHOD = 4581
    AUTO_TOP_UP_INVALID = 4582
    AUTO_TOP_UP_CHANNEL_UNAVAILABLE = 4583

    WEBHOOK_ENDPOINT_NOT_FOUND = 5001
    WEBHOOK_URL_INVALID = 5002
    WEBHOOK_DELIVERY_NOT_FOUND = 5003
    WEBHOOK_ENDPOINT_DISABLED = 5004
    WEBHOOK_DELIVERY_PENDING = 5005

    WEBHOOK_ENDPOINT_LIMIT_REACHED = 5151
    WEBHOOK_TEST_RATE_LIMITED = 5152
    WEBHOOK_REPLAY_RATE_LIMITED = 5153
    WEBHOOK_RECOVER_RATE_LIMITED = 5154

    WEBHOOK_PAST_RETENTION = 5201

    WEBHOOK_HEADERS_TOO_MANY = 5310
    WEBHOOK_HEADER_NAME_INVALID = 5311
    WEBHOOK_HEADER_VALUE_INVALID = 5312
    WEBHOOK_HEADER_DUPLICATE = 5313
    WEBHOOK_HEADER_RESERVED_HTTP = 5314
    WEBHOOK_HEADER_RESERVED_SIGNATURE = 5315
    WEBHOOK_HEADER_RESERVED_GATEWAY = 5316

    WEBHOOK_THROTTLE_INVALID = 5320
    WEBHOOK_RANGE_INVALID = 5321
    WEBHOOK_REPLAY_SPAN_TOO_LONG = 5322
    WEBHOOK_REPLAY_TOO_MANY = 5323
    WEBHOOK_REPLAY_JOB_NOT_FOUND = 5324
    WEBHOOK_REPLAY_JOBS_BUSY = 5325
    WEBHOOK_STATS_SPAN_TOO_LONG = 5330
    WEBHOOK_POLLER_NOT_FOUND = 5331
    WEBHOOK_POLLER_KEY_INVALID = 5332
    WEBHOOK_POLLER_LIMIT_REACHED = 5333
    WEBHOOK_POLLER_ITERATOR_INVALID = 5334
    WEBHOOK_POLLER_RATE_LIMITED = 5335
    WEBHOOK_BATCH_SIZE_INVALID = 5336
    WEBHOOK_BATCH_NEEDS_ORDER = 5337
    WEBHOOK_INBOX_STAGING_ONLY = 5340
    WEBHOOK_INBOX_NOT_FOUND = 5341
    WEBHOOK_INBOX_RATE_LIMITED = 5342

    INTERNAL_ERROR = 9001
    SERVICE_UNAVAILABLE = 9002
    STORE_TIMED_OUT = 9003
    METRICS_TOKEN_INVALID = 9101
    TOO_MANY_REQUESTS = 9102
    BAD_HTTP_REQUEST = 9103


@dataclass(frozen=True, slots=True)
class CodeInfo:
    http_status: int
    message: str


CATALOGUE: dict[Code, CodeInfo] = {
    Code.SUCCESS: CodeInfo(200, "Success"),
    Code.TOPUP_DELIVERED: CodeInfo(200, "Top-up delivered"),
    Code.TOPUP_PENDING: CodeInfo(202, "Top-up pending"),
    Code.TOPUP_CANCELLED: CodeInfo(200, "Top-up cancelled; funds refunded"),
    Code.CREATED: CodeInfo(201, "Created"),
    Code.DELETED: CodeInfo(200, "Deleted"),
    Code.TOPUP_AWAITING_APPROVAL: CodeInfo(
        202, "Top-up held for approval: the amount is debited and held until approved or denied"
    ),
    Code.TOPUP_DENIED: CodeInfo(200, "Top-up denied; funds refunded"),
    Code.VOUCHER_REDEEMED: CodeInfo(
        200, "Voucher redeemed: its amount is taken from the recipient's balance"
    ),
    Code.RECIPIENT_LINK_REQUESTED: CodeInfo(
        202, "If this address has top-ups here, a fresh link to its page is on its way by e-mail"
    ),
    Code.PASSWORD_RESET_REQUESTED: CodeInfo(
        202, "If this address has an account, a password-reset link is on its way by e-mail"
    ),
    Code.PASSWORD_RESET_DONE: CodeInfo(
        200, "Password set; every other session of the account is signed out"
    ),
    Code.SIGNED_UP: CodeInfo(
        202,
        "If this address was new here, its account is ready; either way, sign in with the "
        "account's password",
    ),
    Code.RECIPIENT_LINKS_REVOKED: CodeInfo(
        200, "Every link to this recipient's page made until now no longer opens it"
    ),
    Code.BILLING_PROFILE_SAVED: CodeInfo(
        200, "Billing profile saved: receipts paid from now on carry it"
    ),
    Code.PAYMENT_CHECKED: CodeInfo(
        200, "Payment checked with the provider; data.order says what the order is now"
    ),
    Code.CHECKED_IN: CodeInfo(
        200, "Checked in: today's reward is credited to the wallet (data.amount_cents)"
    ),
    Code.AUTH_MISSING: CodeInfo(401, "Missing API key: send Authorization: Bearer ak_..."),
    Code.AUTH_MALFORMED: CodeInfo(401, "Malformed API key: expected ak_<env>_<32 characters>"),
    Code.AUTH_UNKNOWN: CodeInfo(401, "Unknown API key"),
    Code.AUTH_REVOKED: CodeInfo(401, "API key revoked"),
    Code.ENV_NOT_ALLOWED: CodeInfo(403, "Not available with this key's environment"),
    Code.API_KEY_NOT_FOUND: CodeInfo(404, "API key not found"),
    Code.ORIGIN_NOT_ALLOWED: CodeInfo(
        403, "Requests from this browser origin are not accepted: see AITOPUP_MCP_ALLOWED_ORIGINS"
    ),
    Code.HOST_NOT_ALLOWED: CodeInfo(
        421,
        "This server does not answer to this Host: see AITOPUP_PUBLIC_BASE_URL and "
        "AITOPUP_MCP_ALLOWED_HOSTS",
    ),
    Code.ADMIN_DISABLED: CodeInfo(403, "Admin API is off: set AITOPUP_ADMIN_TOKEN to enable it"),
    Code.ADMIN_TOKEN_MISSING: CodeInfo(
        401, "Missing admin token: send Authorization: Bearer <AITOPUP_ADMIN_TOKEN>"
    ),
    Code.ADMIN_TOKEN_INVALID: CodeInfo(401, "Invalid admin token"),
    Code.ADMIN_API_KEY_REFUSED: CodeInfo(
        401, "Merchant API keys are not accepted by the admin API; use the admin token"
    ),
    Code.AUTH_RATE_LIMITED: CodeInfo(
        429, "Too many failed authentications from this client or for this key; see Retry-After"
    ),
    Code.ADMIN_RATE_LIMITED: CodeInfo(
        429, "Too many failed admin token attempts from this client; see Retry-After"
    ),
    Code.AUTH_HEADER_REPEATED: CodeInfo(400, "Send exactly one Authorization header"),
    Code.REDEMPTION_RATE_LIMITED: CodeInfo(
        429, "Too many redemption attempts for this merchant; see Retry-After"
    ),
    Code.LIVE_STREAMS_LIMITED: CodeInfo(
        429, "Too many live streams open for this user or on this server; see Retry-After"
    ),
    Code.RECIPIENT_LINKS_RATE_LIMITED: CodeInfo(
        429,
        "Too many requests for a recipient's link from this client or for this address; "
        "see Retry-After",
    ),
    Code.PASSWORD_RESETS_RATE_LIMITED: CodeInfo(
        429,
        "Too many password-reset requests from this client or for this address; see Retry-After",
    ),
    Code.PAYMENT_CALLS_RATE_LIMITED: CodeInfo(
        429,
        "Too many checkouts, invoices and payment checks for this merchant in this environment; "
        "see Retry-After",
    ),
    Code.PAYMENT_NOTICES_RATE_LIMITED: CodeInfo(
        429, "Too many payment notifications from this address; see Retry-After"
    ),
    Code.CONSENTS_RATE_LIMITED: CodeInfo(
        429, "Too many apps connected by this member in a minute; see Retry-After"
    ),
    Code.KEY_SCOPE_MISSING: CodeInfo(403, "This API key's scopes do not allow this call"),
    Code.KEY_EXPIRED: CodeInfo(401, "API key expired"),
    Code.KEY_RATE_LIMITED: CodeInfo(
        429, "Too many requests for this API key's rate limit; see Retry-After"
    ),
    Code.KEY_LIMIT_REACHED: CodeInfo(
        402, "This API key's spend limit for the window is reached; see data.resets_at"
    ),
    Code.KEY_PER_SEND_CAP: CodeInfo(403, "Amount is above this API key's per-send maximum"),
    Code.KEY_PER_RECIPIENT_LIMIT: CodeInfo(
        402, "This API key's limit for this recipient in the window is reached"
    ),
    Code.KEY_PLATFORM_NOT_ALLOWED: CodeInfo(403, "This API key may not send to this platform"),
    Code.KEY_RECIPIENT_NOT_ALLOWED: CodeInfo(403, "This API key may not send to this recipient"),
    Code.KEY_SELF_APPROVAL: CodeInfo(403, "A key cannot approve or deny a send it made itself"),
    Code.KEY_SCOPE_NOT_GRANTABLE: CodeInfo(
        403, "A key can only give another key scopes it holds itself"
    ),
    Code.KEY_REVEAL_NOT_GRANTABLE: CodeInfo(
        403, "A key that does not see recipients' codes cannot make a key that does"
    ),
    Code.KEY_LIMIT_NOT_GRANTABLE: CodeInfo(
        403, "A key can only give another key limits within its own"
    ),
    Code.KEY_RULE_REFUSES_CHARGE: CodeInfo(
        403, "A rule of this consent's policy holds or restricts payments; a charge cannot meet it"
    ),
    Code.KEY_COUNT_LIMIT_REACHED: CodeInfo(
        409, "Key limit reached for this environment; revoke one first"
    ),
    Code.CONSENT_COUNT_LIMIT_REACHED: CodeInfo(
        409, "Consent limit reached for this environment; revoke a connected app first"
    ),
    Code.ROLE_NOT_ALLOWED: CodeInfo(
        403, "Your role on this merchant does not allow this; ask an owner"
    ),
    Code.LAST_OWNER: CodeInfo(409, "A merchant keeps at least one owner; make another owner first"),
    Code.MEMBER_NOT_FOUND: CodeInfo(404, "No such member of this merchant"),
    Code.ROLE_INVALID: CodeInfo(422, "Role must be owner, developer or viewer"),
    Code.ROLE_SCOPE_NOT_GRANTABLE: CodeInfo(
        403, "Your role cannot give a key this: a key does no more than its maker may"
    ),
    Code.SIGN_IN_FAILED: CodeInfo(401, "That e-mail address and password do not match an account"),
    Code.PASSWORD_INCORRECT: CodeInfo(422, "That is not your current password"),
    Code.ACCOUNT_LINK_INVALID: CodeInfo(
        404, "This password link is unknown, used already or expired; ask for a new one"
    ),
    Code.INVITATION_NOT_FOUND: CodeInfo(404, "There is no such invitation for this account"),
    Code.BUDGET_LIMIT_REACHED: CodeInfo(
        402,
        "A budget this payment draws on has no room left in the window; see data.budget_id and "
        "data.resets_at",
    ),
    Code.BUDGET_FROZEN: CodeInfo(
        403, "A budget this payment draws on is frozen: it admits nothing until unfrozen"
    ),
    Code.BUDGET_NOT_FOUND: CodeInfo(404, "Budget not found"),
    Code.BUDGET_DRAWN_ON: CodeInfo(
        409,
        "Keys, app connections or policy templates draw on this budget; take it out of their "
        "policies first",
    ),
    Code.BUDGET_NOT_IN_ENV: CodeInfo(
        422, "The policy names a budget this merchant does not have in this environment"
    ),
    Code.BUDGET_COUNT_LIMIT_REACHED: CodeInfo(
        409, "Budget limit reached for this environment; delete one first"
    ),
    Code.TELEGRAM_SECRET_INVALID: CodeInfo(
        401, "This update does not carry the bot's webhook secret (X-Telegram-Bot-Api-Secret-Token)"
    ),
    Code.TELEGRAM_UPDATE_MALFORMED: CodeInfo(400, "This is not a Telegram update the bot reads"),
    Code.TELEGRAM_UPDATES_RATE_LIMITED: CodeInfo(
        429, "Too many Telegram updates from this chat or user; retry after the window"
    ),
    Code.TELEGRAM_NOT_CONFIGURED: CodeInfo(
        404,
        "No Telegram bot here: set AITOPUP_TELEGRAM_BOT_TOKEN and AITOPUP_TELEGRAM_WEBHOOK_SECRET",
    ),
    Code.APPROVAL_TOKEN_WRONG_DOOR: CodeInfo(
        403,
        "This decision token was issued for a Telegram button: it decides only when its "
        "approver presses that button; nothing was decided",
    ),
    Code.FORM_BODY_INVALID: CodeInfo(
        400, "Form body is not UTF-8 application/x-www-form-urlencoded, or repeats a field"
    ),
    Code.AUTO_TOP_UP_NOT_FOUND: CodeInfo(404, "No auto top-up is set for this wallet"),
    Code.AUTO_TOP_UP_NO_PAYMENT_METHOD: CodeInfo(
        409,
        "Save a payment method first (POST /wallet/auto-top-up/setup): auto top-up charges it",
    ),
    Code.AUTO_TOP_UP_INVALID: CodeInfo(
        422,
        "Give a threshold and a monthly cap, and exactly one of target_cents (above the "
        "threshold) or amount_cents",
    ),
    Code.AUTO_TOP_UP_CHANNEL_UNAVAILABLE: CodeInfo(
        409, "Auto top-up in live needs Stripe: the operator has not configured it"
    ),
    Code.ENVIRONMENT_FROZEN: CodeInfo(
        423,
        "This environment is frozen: its keys, consents and app tokens are refused until a "
        "person unfreezes it",
    ),
    Code.FREEZE_BUDGET_NOT_FOUND: CodeInfo(404, "No such budget to freeze in this environment"),
    Code.FREEZE_LIFT_KEY_LIMITED: CodeInfo(
        403,
        "This key is held by limits the freeze protects (data.fields): only a person, or a "
        "key free of every limit, may unfreeze",
    ),
    Code.FREEZE_LIFT_BY_APP: CodeInfo(
        403,
        "An app's token or an app's key never unfreezes: only a person, or the merchant's own "
        "key free of every limit, may",
    ),
    Code.FREEZE_LIFT_ROLE: CodeInfo(403, "Only an owner of the merchant may unfreeze"),
    Code.CARD_FOR_MERCHANT_ONLY: CodeInfo(
        403,
        "Only the merchant charges its saved card: a key of its own with billing:card, or an "
        "owner on the dashboard; never an app's token or the key an app manages",
    ),
    Code.APPROVAL_LINK_INVALID: CodeInfo(
        404,
        "This approval link is unknown, used already, or its send is no longer awaiting "
        "approval; nothing was decided",
    ),
    Code.POLICY_TEMPLATE_NOT_FOUND: CodeInfo(404, "Policy template not found"),
    Code.POLICY_TEMPLATE_IN_USE: CodeInfo(
        409,
        "Keys or consents still name this policy template; point them elsewhere or revoke "
        "them first (data.keys, data.consents)",
    ),
    Code.POLICY_TEMPLATE_NESTED: CodeInfo(422, "A policy template cannot name a template itself"),
    Code.POLICY_TEMPLATE_COUNT_LIMIT_REACHED: CodeInfo(
        409, "Policy template limit reached for this environment; delete one first"
    ),
    Code.APP_NOT_FOUND: CodeInfo(404, "App not found"),
    Code.APP_COUNT_LIMIT_REACHED: CodeInfo(409, "This merchant has as many apps as it may"),
    Code.APP_NOT_CONFIDENTIAL: CodeInfo(409, "A public app has no client secret to rotate"),
    Code.TOKEN_EXPIRED: CodeInfo(401, "Access token expired: use the refresh token"),
    Code.TOKEN_REVOKED: CodeInfo(401, "Access token revoked"),
    Code.TOKEN_WRONG_RESOURCE: CodeInfo(
        401, "This access token was issued for another resource (RFC 8707)"
    ),
    Code.CONNECTION_NOT_FOUND: CodeInfo(404, "Connected app not found"),
    Code.CONSENT_LIMIT_REACHED: CodeInfo(
        402,
        "The app connection this key was made through has no room left in the window; see "
        "data.resets_at",
    ),
    Code.VALIDATION_FAILED: CodeInfo(422, "Request validation failed"),
    Code.INVALID_JSON: CodeInfo(400, "Request body is not valid JSON"),
    Code.UNSUPPORTED_MEDIA_TYPE: CodeInfo(415, "Content-Type must be application/json"),
    Code.BODY_TOO_LARGE: CodeInfo(413, "Request body too large"),
    Code.INVALID_CURSOR: CodeInfo(422, "Invalid pagination cursor"),
    Code.INVALID_QUERY: CodeInfo(422, "Invalid query parameter"),
    Code.ROUTE_NOT_FOUND: CodeInfo(404, "No such route"),
    Code.METHOD_NOT_ALLOWED: CodeInfo(405, "Method not allowed on this route"),
    Code.DUPLICATE_JSON_KEY: CodeInfo(400, "Request body repeats a key in a JSON object"),
    Code.JSON_TOO_DEEP: CodeInfo(400, "Request body nests arrays and objects too deeply"),
    Code.TEXT_HOLDS_NUL: CodeInfo(400, "Request text contains a NUL character"),
    Code.INSUFFICIENT_BALANCE: CodeInfo(402, "Insufficient wallet balance"),
    Code.TRANSACTION_NOT_FOUND: CodeInfo(404, "Transaction not found"),
    Code.IDEMPOTENCY_KEY_REUSED: CodeInfo(
        409, "Idempotency-Key was already used with a different request"
    ),
    Code.TOPUP_FAILED: CodeInfo(402, "Top-up failed; funds refunded"),
    Code.TOPUP_NOT_CANCELLABLE: CodeInfo(409, "Only a pending top-up can be cancelled"),
    Code.TOPUP_NOT_AWAITING_APPROVAL: CodeInfo(
        409, "Only a top-up awaiting approval can be approved or denied"
    ),
    Code.INVALID_IDEMPOTENCY_KEY: CodeInfo(
        422, "Idempotency-Key must be 1 to 255 printable ASCII characters"
    ),
    Code.PACK_NOT_FOUND: CodeInfo(404, "Pack not found"),
    Code.COUPON_NOT_FOUND: CodeInfo(404, "Coupon not found"),
    Code.COUPON_EXPIRED: CodeInfo(410, "Coupon expired"),
    Code.COUPON_EXHAUSTED: CodeInfo(409, "Coupon has reached its use limit"),
    Code.COUPON_NOT_APPLICABLE: CodeInfo(
        422, "Coupon does not apply to this pack, or would take the price below $0.50"
    ),
    Code.PAYMENTS_NOT_CONFIGURED: CodeInfo(
        503, "Card payments are not configured: set AITOPUP_STRIPE_SECRET_KEY"
    ),
    Code.PAYMENT_PROVIDER_ERROR: CodeInfo(502, "The payment provider refused or failed"),
    Code.PAYMENT_PROVIDER_TIMEOUT: CodeInfo(504, "The payment provider did not answer in time"),
    Code.REDEMPTION_CODE_UNKNOWN: CodeInfo(404, "Unknown redemption code"),
    Code.REDEMPTION_CODE_USED: CodeInfo(409, "Redemption code already used"),
    Code.REDEMPTION_CODE_EXPIRED: CodeInfo(410, "Redemption code expired"),
    Code.REDEMPTION_CODE_WRONG_ENV: CodeInfo(
        403, "Redemption code belongs to the other environment"
    ),
    Code.STRIPE_SIGNATURE_INVALID: CodeInfo(400, "Stripe-Signature missing, invalid or stale"),
    Code.STRIPE_WEBHOOK_NOT_CONFIGURED: CodeInfo(
        503, "Stripe webhooks are not configured: set AITOPUP_STRIPE_WEBHOOK_SECRET"
    ),
    Code.STRIPE_EVENT_MALFORMED: CodeInfo(400, "Stripe event is not a valid event object"),
    Code.STRIPE_EVENT_NOT_PROCESSED: CodeInfo(
        500, "Stripe event could not be processed; it will be retried"
    ),
    Code.ORDER_NOT_FOUND: CodeInfo(404, "Order not found"),
    Code.ORDER_NOT_PAYABLE: CodeInfo(409, "Order is no longer pending"),
    Code.MERCHANT_NOT_FOUND: CodeInfo(404, "Merchant not found"),
    Code.MERCHANT_NAME_TAKEN: CodeInfo(409, "A merchant with this name already exists"),
    Code.ADJUSTMENT_BELOW_ZERO: CodeInfo(409, "Adjustment would take the wallet below zero"),
    Code.PACK_ID_TAKEN: CodeInfo(409, "A pack with this id already exists"),
    Code.COUPON_CODE_TAKEN: CodeInfo(409, "A coupon with this code already exists"),
    Code.ORDER_EXPIRED: CodeInfo(410, "Order expired before it was paid; start a new checkout"),
    Code.FULFILMENT_NOT_CONFIGURED: CodeInfo(
        404, "No upstream provider is set for this platform in this environment"
    ),
    Code.FULFILMENT_URL_INVALID: CodeInfo(422, "Upstream URL invalid"),
    Code.FULFILMENT_UPSTREAM_REFUSED: CodeInfo(
        502, "The upstream refused the request: check its credentials and settings"
    ),
    Code.FULFILMENT_UPSTREAM_UNAVAILABLE: CodeInfo(
        504, "The upstream did not answer in time or failed; try again later"
    ),
    Code.FULFILMENT_TEST_RATE_LIMITED: CodeInfo(
        429, "Too many fulfilment connection tests for this merchant; see Retry-After"
    ),
    Code.MAILBOX_STAGING_ONLY: CodeInfo(
        403,
        "The mailbox holds staging mail only, which never leaves the gateway: use a staging key "
        "(live mail is sent; its state is on GET /recipients)",
    ),
    Code.EMAIL_NOT_FOUND: CodeInfo(404, "E-mail not found"),
    Code.RECIPIENT_NOT_FOUND: CodeInfo(404, "Recipient not found"),
    Code.RECIPIENT_LINK_INVALID: CodeInfo(
        404, "This link to a recipient's page is invalid or has expired: ask for a fresh one"
    ),
    Code.PASSWORD_RESET_LINK_INVALID: CodeInfo(
        404, "This password-reset link is invalid, used or expired: ask for a fresh one"
    ),
    Code.CHARGE_NOT_FOUND: CodeInfo(404, "Charge not found"),
    Code.CHARGE_NOT_REFUNDABLE: CodeInfo(
        409, "This charge was refunded already, or the refund is more than was charged"
    ),
    Code.CHARGES_FOR_APPS_ONLY: CodeInfo(
        403, "Only an app charges fees, with an access token of a merchant's consent"
    ),
    Code.CHECKIN_ALREADY_DONE: CodeInfo(
        409, "Already checked in this UTC day; data.next_checkin_at says when the next one opens"
    ),
    Code.CHECKIN_DISABLED: CodeInfo(403, "Daily check-in is off in this environment"),
    Code.TEST_CLOCK_STAGING_ONLY: CodeInfo(
        403, "The test clock is for staging keys only: live always runs on real time"
    ),
    Code.TEST_CLOCK_TOO_FAR: CodeInfo(
        422, "The test clock would run more than 10 years ahead of real time"
    ),
    Code.TEST_CLOCK_RATE_LIMITED: CodeInfo(
        429, "Too many advances of this merchant's test clock; see Retry-After"
    ),
    Code.BILLING_PROFILE_LIVE_ONLY: CodeInfo(
        403, "The billing profile is changed with a live key, or by an owner in the dashboard"
    ),
    Code.RECEIPT_PDFS_RATE_LIMITED: CodeInfo(
        429, "Too many receipt PDFs for this merchant in this environment; see Retry-After"
    ),
    Code.SUBSCRIPTION_INVOICE_NOT_FOUND: CodeInfo(
        404, "No paid period of this environment's subscription has this invoice id"
    ),
    Code.SUBSCRIPTION_CHECKED: CodeInfo(
        200, "Subscription checked with the provider; its paid periods are credited once"
    ),
    Code.SUBSCRIPTION_CHANGED: CodeInfo(200, "Subscription changed"),
    Code.PLAN_NOT_FOUND: CodeInfo(404, "Plan not found in this environment"),
    Code.PLAN_NOT_PURCHASABLE: CodeInfo(
        409, "This plan has no Stripe price yet: an operator saves it again with Stripe configured"
    ),
    Code.SUBSCRIPTION_EXISTS: CodeInfo(
        409,
        "This merchant already has a subscription in this environment: change plan through "
        "POST /subscription/portal",
    ),
    Code.SUBSCRIPTION_NOT_FOUND: CodeInfo(404, "No subscription in this environment"),
    Code.SUBSCRIPTION_CHECKOUT_OPEN: CodeInfo(
        409,
        "A subscription checkout is open and unpaid in this environment: continue it at "
        "data.open_checkout.url, or cancel it (DELETE /subscription/checkout)",
    ),
    Code.SUBSCRIPTION_CHECKOUT_NOT_OPEN: CodeInfo(
        404, "No open subscription checkout in this environment"
    ),
    Code.SUBSCRIPTION_CHECKOUT_NOT_CANCELLABLE: CodeInfo(
        409,
        "This channel's checkout cannot be cancelled from here: continue it, or it ends by "
        "itself at data.open_checkout.expires_at",
    ),
    Code.PAYMENT_CHANNEL_UNKNOWN: CodeInfo(
        422, "Unknown payment channel: GET /billing/topup-info lists this environment's"
    ),
    Code.PAYMENT_CHANNEL_NOT_AVAILABLE: CodeInfo(
        422, "This payment channel is not available in this environment"
    ),
    Code.CHANNEL_AMOUNT_NOT_OFFERED: CodeInfo(
        422,
        "This payment channel has no product that charges this amount exactly: choose a pack "
        "it sells, or an amount it can charge",
    ),
    Code.SUBSCRIPTION_NOT_CHANGEABLE: CodeInfo(
        409, "The subscription is canceled, or not paid yet: it cannot be changed"
    ),
    Code.PAYMENT_CHANNEL_NOT_ENABLED: CodeInfo(
        422,
        "This payment channel is not enabled in this environment: GET /billing/topup-info "
        "lists those that are (data.channel)",
    ),
    Code.PAYMENT_CHANNEL_NOT_CONFIGURED: CodeInfo(
        503, "This payment channel has no credentials in this environment (data.channel)"
    ),
    Code.PAYMENT_CHANNEL_KIND_UNSUPPORTED: CodeInfo(
        422,
        "This payment channel does not take this kind of payment: checkout, invoice or "
        "subscription (data.channel, data.kind)",
    ),
    Code.PAYMENT_CHANNEL_CREDENTIALS_INVALID: CodeInfo(
        422, "Credentials do not fit the channel: data.fields names each field refused"
    ),
    Code.PAYMENT_NOTICE_REFUSED: CodeInfo(
        400, "Payment notification refused: its signature is missing, wrong or stale"
    ),
    Code.PAYMENT_NOTICE_MALFORMED: CodeInfo(
        400, "Payment notification is not one this channel sends"
    ),
    Code.PAYMENT_NOTICE_NOT_PROCESSED: CodeInfo(
        500, "Payment notification not processed; the provider's retry will be"
    ),
    Code.PAYMENT_NOTICE_ORDER_MISMATCH: CodeInfo(
        409,
        "Payment notification names an order of another channel, merchant or environment; "
        "nothing credited",
    ),
    Code.REFUND_PENDING: CodeInfo(
        202,
        "Refund recorded and the wallet debited, the payment provider's answer not known yet: "
        "the worker asks again under the same key until it answers (data.status)",
    ),
    Code.ORDER_NOT_REFUNDABLE: CodeInfo(
        409, "Only a paid checkout or invoice can be refunded (data.status: the order's now)"
    ),
    Code.REFUND_NOT_SUPPORTED: CodeInfo(
        409, "This order's payment channel cannot refund (data.channel); nothing changed"
    ),
    Code.REFUND_EXCEEDS_PAID: CodeInfo(
        409,
        "Refund more than is left of the payment: at most data.refundable_cents (what was paid "
        "less what was refunded already)",
    ),
    Code.REFUND_BALANCE_SHORT: CodeInfo(
        409,
        "The merchant's wallet holds less than the credits this refund takes back "
        "(data.debit_cents); nothing refunded",
    ),
    Code.REFUND_ONLY_IN_FULL: CodeInfo(
        409,
        "This order's payment channel refunds only all that is left of the payment "
        "(data.refundable_cents): leave amount_cents out; nothing changed",
    ),
    Code.PAYMENT_CREDENTIAL_MALFORMED: CodeInfo(
        402,
        "The Payment credential could not be read: pay the fresh challenge in WWW-Authenticate; "
        "nothing was charged",
    ),
    Code.PAYMENT_CHALLENGE_INVALID: CodeInfo(
        402,
        "The credential's challenge was not issued by this gateway to this key's merchant and "
        "environment, was altered, or was used already: pay the fresh challenge; nothing was "
        "charged by this request",
    ),
    Code.PAYMENT_CHALLENGE_EXPIRED: CodeInfo(
        402, "The credential's challenge has expired: pay the fresh challenge; nothing was charged"
    ),
    Code.PAYMENT_VERIFICATION_FAILED: CodeInfo(
        402,
        "The payment was refused (the Shared Payment Token was declined, spent or short): pay "
        "the fresh challenge with another; nothing was charged",
    ),
    Code.PAYMENT_METHOD_UNSUPPORTED: CodeInfo(
        400, "The credential is for a payment method or intent this gateway does not take"
    ),
    Code.PAYMENT_CHALLENGE_TAKEN: CodeInfo(
        402,
        "The credential's challenge is being paid, or was paid, with another credential: a "
        "challenge is paid once, by the first credential presented for it; nothing was charged "
        "by this request",
    ),
    # One answer for a code that is not this key's to redeem, whatever the reason (unknown,
    # another merchant's, the other environment's): nothing about other vouchers leaks.
    Code.VOUCHER_NOT_FOUND: CodeInfo(404, "No voucher of yours in this environment has this code"),
    Code.VOUCHER_ALREADY_REDEEMED: CodeInfo(
        409, "This voucher was already redeemed (data.redeemed_at says when)"
    ),
    Code.VOUCHER_NOT_REDEEMABLE: CodeInfo(
        409, "This voucher's top-up was not delivered (data.status says what it is)"
    ),
    Code.VOUCHER_CODE_INVALID: CodeInfo(
        422, "Not a voucher code: ATU-XXXX-XXXX-XXXX (live) or ATU-TEST-XXXX-XXXX-XXXX (staging)"
    ),
    Code.CUSTOM_AMOUNT_OFF: CodeInfo(
        422, "Custom amounts are not offered here; buy a pack (see GET /billing/topup-info)"
    ),
    Code.CUSTOM_AMOUNT_INVALID: CodeInfo(
        422, "Custom amount outside the allowed range or step (see GET /billing/topup-info)"
    ),
    Code.RECEIPT_NOT_AVAILABLE: CodeInfo(409, "A receipt exists only for a paid order"),
    Code.EXPORT_RANGE_INVALID: CodeInfo(
        422, "Export range invalid: from before to, at most AITOPUP_FUNDING_EXPORT_MAX_DAYS days"
    ),
    Code.REDEMPTION_CODE_VOIDED: CodeInfo(410, "Redemption code was voided"),
    Code.REDEMPTION_CODE_NOT_FOUND: CodeInfo(404, "Redemption code not found"),
    Code.INVOICE_NOT_AVAILABLE: CodeInfo(
        403, "Invoice orders are for live keys with Stripe configured"
    ),
    Code.OPEN_ORDERS_LIMIT_REACHED: CodeInfo(
        409,
        "Too many unpaid checkouts open in this environment: pay them or let them expire "
        "(see data.limit)",
    ),
    Code.INVOICE_EMAIL_NOT_ALLOWED: CodeInfo(
        422, "An invoice goes only to the e-mail address of one of this merchant's users"
    ),
    Code.RETURN_URL_INVALID: CodeInfo(422, "Return URL invalid"),
    Code.PAYMENT_SESSION_REPEATED: CodeInfo(
        502, "The payment provider answered a session it had already given another order"
    ),
    Code.WEBHOOK_ENDPOINT_NOT_FOUND: CodeInfo(404, "Webhook endpoint not found"),
    Code.WEBHOOK_URL_INVALID: CodeInfo(422, "Webhook URL invalid"),
    Code.WEBHOOK_DELIVERY_NOT_FOUND: CodeInfo(404, "Webhook delivery not found"),
    Code.WEBHOOK_ENDPOINT_DISABLED: CodeInfo(
        409, "Webhook endpoint is disabled; enable it with PATCH first"
    ),
    Code.WEBHOOK_DELIVERY_PENDING: CodeInfo(
        409, "Webhook delivery is already pending; wait for its attempt to finish"
    ),
    Code.WEBHOOK_ENDPOINT_LIMIT_REACHED: CodeInfo(
        409, "Webhook endpoint limit reached for this environment; delete one first"
    ),
    Code.WEBHOOK_TEST_RATE_LIMITED: CodeInfo(
        429, "Too many webhook test events for this merchant; see Retry-After"
    ),
    Code.WEBHOOK_REPLAY_RATE_LIMITED: CodeInfo(
        429, "Too many delivery replays for this merchant; see Retry-After"
    ),
    Code.WEBHOOK_RECOVER_RATE_LIMITED: CodeInfo(
        429, "Too many replays of failed deliveries for this merchant; see Retry-After"
    ),
    Code.WEBHOOK_PAST_RETENTION: CodeInfo(
        410,
        "Past retention: webhook history older than the merchant's retention period is not "
        "kept; data.kept_since is the oldest moment still held",
    ),
    Code.WEBHOOK_HEADERS_TOO_MANY: CodeInfo(
        422, "Too many custom headers on one webhook endpoint (see data.limit)"
    ),
    Code.WEBHOOK_HEADER_NAME_INVALID: CodeInfo(
        422, "Custom header name invalid: an HTTP token of at most 64 characters (data.header)"
    ),
    Code.WEBHOOK_HEADER_VALUE_INVALID: CodeInfo(
        422,
        "Custom header value invalid: 1 to 1,000 printable ASCII characters, no CR, LF or other "
        "control characters (data.header)",
    ),
    Code.WEBHOOK_HEADER_DUPLICATE: CodeInfo(
        422, "Custom header given twice (names are case-insensitive; data.header)"
    ),
    Code.WEBHOOK_HEADER_RESERVED_HTTP: CodeInfo(
        422,
        "Custom header not allowed: the gateway sets it or it is hop-by-hop (Host, "
        "Content-Length, Content-Type, Transfer-Encoding, Connection…; data.header)",
    ),
    Code.WEBHOOK_HEADER_RESERVED_SIGNATURE: CodeInfo(
        422, "Custom header not allowed: webhook-* are the Standard Webhooks headers (data.header)"
    ),
    Code.WEBHOOK_HEADER_RESERVED_GATEWAY: CodeInfo(
        422,
        "Custom header not allowed: X-AiTopUp-* and User-Agent are the gateway's own (data.header)",
    ),
    Code.WEBHOOK_THROTTLE_INVALID: CodeInfo(
        422,
        "Webhook throttle invalid: throttle_per_second is a whole number of deliveries per "
        "second, 1 to 1,000, or null for none (data.min, data.max)",
    ),
    Code.WEBHOOK_RANGE_INVALID: CodeInfo(422, "Time range invalid: until must be later than since"),
    Code.WEBHOOK_REPLAY_SPAN_TOO_LONG: CodeInfo(
        422, "Replay span too long: since to until may cover at most data.max_days days"
    ),
    Code.WEBHOOK_STATS_SPAN_TOO_LONG: CodeInfo(
        422, "Stats span too long: since to until may cover at most data.max_days days"
    ),
    Code.WEBHOOK_POLLER_NOT_FOUND: CodeInfo(404, "Poller not found"),
    Code.WEBHOOK_POLLER_KEY_INVALID: CodeInfo(
        401, "Poller key invalid: send Authorization: Bearer wpk_… of this poller"
    ),
    Code.WEBHOOK_POLLER_LIMIT_REACHED: CodeInfo(
        409, "Poller limit reached for this environment (data.limit); delete one first"
    ),
    Code.WEBHOOK_POLLER_ITERATOR_INVALID: CodeInfo(
        422, "Iterator invalid: send the iterator a read answered, or since, not both"
    ),
    Code.WEBHOOK_POLLER_RATE_LIMITED: CodeInfo(
        429, "Too many poller reads from this client; retry after Retry-After"
    ),
    Code.WEBHOOK_BATCH_SIZE_INVALID: CodeInfo(
        422,
        "Webhook batch size invalid: batch_size is a whole number of events a request, 1 to "
        "100 (data.min, data.max)",
    ),
    Code.WEBHOOK_BATCH_NEEDS_ORDER: CodeInfo(
        422, "Only an ordered endpoint takes batches: set ordered true, or batch_size 1"
    ),
    Code.WEBHOOK_REPLAY_TOO_MANY: CodeInfo(
        422,
        "Replay matches too many deliveries: one job replays at most data.limit; narrow the "
        "filter or split the time range",
    ),
    Code.WEBHOOK_REPLAY_JOB_NOT_FOUND: CodeInfo(404, "Webhook replay job not found"),
    Code.WEBHOOK_REPLAY_JOBS_BUSY: CodeInfo(
        409,
        "Too many replay jobs still running for this environment (data.limit); wait for one "
        "to finish",
    ),
    Code.WEBHOOK_INBOX_STAGING_ONLY: CodeInfo(
        403, "The test inbox is staging's: live merchants have none; use a staging key"
    ),
    Code.WEBHOOK_INBOX_NOT_FOUND: CodeInfo(404, "No test inbox at this URL"),
    Code.WEBHOOK_INBOX_RATE_LIMITED: CodeInfo(
        429, "Too many requests to this merchant's test inbox; see Retry-After"
    ),
    Code.LANGUAGE_UNKNOWN: CodeInfo(422, "Unknown language: choose en, zh or ja"),
    Code.MANAGED_KEY_BEYOND_CONSENT: CodeInfo(
        403, "The key would do more than the consent gives the app"
    ),
    Code.MANAGED_KEY_EXISTS: CodeInfo(409, "This consent already has a key: read or rotate it"),
    Code.MANAGED_KEY_NOT_FOUND: CodeInfo(404, "This consent has no key: make one first"),
    Code.MANAGED_KEY_FOR_APPS_ONLY: CodeInfo(
        403, "Only an app's access token manages a key through a consent"
    ),
    Code.INTERNAL_ERROR: CodeInfo(500, "Internal error"),
    Code.SERVICE_UNAVAILABLE: CodeInfo(503, "Service unavailable"),
    Code.STORE_TIMED_OUT: CodeInfo(503, "The store did not answer in time; try again shortly"),
    Code.METRICS_TOKEN_INVALID: CodeInfo(
        401, "Missing or invalid metrics token: send Authorization: Bearer <AITOPUP_METRICS_TOKEN>"
    ),
    # The next two are answered by the reverse proxy (deploy/nginx.conf), before the gateway.
    Code.TOO_MANY_REQUESTS: CodeInfo(
        429, "Too many requests or connections from this client; retry later"
    ),
    Code.BAD_HTTP_REQUEST: CodeInfo(400, "Malformed HTTP request, or its URI or headers too long"),
}
