"""The code catalogue's 4xxx band: wallet and transactions, what a call may not do to money,
top-ups and what they touch. ``codes.CATALOGUE`` holds every band."""

from .code_names import Code, CodeInfo

__all__ = ["WALLET"]

WALLET: dict[Code, CodeInfo] = {
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
    Code.APPROVAL_LINK_NOT_YOURS: CodeInfo(
        403,
        "This approval link was sent to another person: it decides only for them, and you are "
        "signed in as someone else; nothing was decided",
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
    Code.CREDIT_GRANT_NOT_FOUND: CodeInfo(404, "No such credit grant for this merchant"),
    Code.CREDIT_GRANT_VOIDED: CodeInfo(409, "Credit grant already voided"),
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
    Code.BUDGET_LEVELS_ON_ROLLING_WINDOW: CodeInfo(
        422,
        "A budget's alert levels are told on its calendar windows only, and its only window is "
        "rolling (hours), which would never tell them: add a calendar window or drop the levels",
    ),
    Code.PAYMENT_SESSION_REPEATED: CodeInfo(
        502, "The payment provider answered a session it had already given another order"
    ),
    Code.LANGUAGE_UNKNOWN: CodeInfo(422, "Unknown language: choose en, zh or ja"),
    Code.MANAGED_KEY_BEYOND_CONSENT: CodeInfo(
        403, "The key would do more than the consent gives the app"
    ),
    Code.MANAGED_KEY_EXISTS: CodeInfo(409, "This consent already has a key: read or rotate it"),
    Code.MANAGED_KEY_NOT_FOUND: CodeInfo(404, "This consent has no key: make one first"),
    Code.PAYMENT_NOT_FOUND: CodeInfo(404, "No payment of this environment has this id"),
    Code.PAYMENT_IN_PROGRESS: CodeInfo(
        409,
        "The payment of this Idempotency-Key is being authorized: retry with the same key "
        "shortly for its answer (data.id)",
    ),
    Code.PAYMENT_AMOUNT_NOT_PAYABLE: CodeInfo(
        422,
        "The seller's challenge asks for an amount this wallet does not pay in one payment: "
        "from 1 cent to AITOPUP_MAX_TOPUP_CENTS; nothing was paid",
    ),
    Code.PAYER_KEY_NOT_FOUND: CodeInfo(
        404, "No payer key of this protocol is set for this environment's wallet"
    ),
    Code.PAYER_KEY_EXISTS: CodeInfo(
        409,
        "A payer key of this protocol is set for this environment's wallet: remove it first "
        "(what its address holds stays there, reachable with that key alone)",
    ),
    Code.PAYEE_BINDING_NOT_FOUND: CodeInfo(
        404, "No destination bound to an origin with this id in this environment"
    ),
    Code.PAYMENT_NOT_AWAITING_APPROVAL: CodeInfo(
        409, "Only a payment awaiting approval can be approved or denied (data.status)"
    ),
    Code.PAYMENT_APPROVAL_DENIED: CodeInfo(
        403,
        "This payment was held for approval and denied: nothing was paid; its amount is back in "
        "the wallet",
    ),
    Code.TREASURY_FLOAT_SHORT: CodeInfo(
        503,
        "The operator's treasury cannot cover this payment now (its float for this rail is "
        "out): nothing was paid or debited; try again later",
    ),
    Code.PAYMENT_APPROVAL_EXPIRED: CodeInfo(
        409,
        "This payment was held for approval and not decided in time: nothing was paid; its "
        "amount is back in the wallet",
    ),
    Code.PAYMENT_CHALLENGE_PAID: CodeInfo(
        409,
        "This merchant paid this challenge already (data.payment_id, data.status): a challenge is "
        "paid once whatever the Idempotency-Key; an x402 offer is bought again with buy_again; "
        "nothing was paid",
    ),
    Code.SELLER_UNREACHABLE: CodeInfo(
        502,
        "The seller could not be reached or did not answer in time (data.payment: the payment "
        "made before it, if any; fetch again with the same Idempotency-Key to send its "
        "credential again, never paying twice)",
    ),
    Code.SELLER_ADDRESS_REFUSED: CodeInfo(
        422,
        "The seller's address is refused: a paying fetch reaches the public internet only; "
        "nothing was paid",
    ),
    Code.MANAGED_KEY_FOR_APPS_ONLY: CodeInfo(
        403, "Only an app's access token manages a key through a consent"
    ),
}
