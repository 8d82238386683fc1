"""The code catalogue's 1xxx band: a call that did what it asked. ``codes.CATALOGUE``
holds every band."""

from .code_names import Code, CodeInfo

__all__ = ["SUCCESS"]

SUCCESS: dict[Code, CodeInfo] = {
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
    Code.PAYMENT_AUTHORIZED: CodeInfo(
        201,
        "Payment authorized: the wallet is debited and holds the amount (not when the "
        "merchant's own instrument pays, funded_by own); retry the seller's request with "
        "data.value in the data.header header. Shown here and on a replay of this "
        "Idempotency-Key only; released to the wallet if the seller has not used it at "
        "data.expires_at",
    ),
    Code.PAYMENT_APPROVED: CodeInfo(
        200,
        "Payment approved: its credential is made for the key that asked for it, shown only on a "
        "replay of that key's Idempotency-Key (data.status says where it stands)",
    ),
    Code.PAYMENT_DENIED: CodeInfo(
        200,
        "Payment denied: nothing was paid; its amount is back in the wallet (in the key's "
        "limits only, when the merchant's own instrument was to pay)",
    ),
    Code.PAYMENT_AWAITING_APPROVAL: CodeInfo(
        202,
        "Payment held for approval: the amount is debited and held, and nothing is paid until "
        "it is approved; retry with the same Idempotency-Key for its answer (data.id)",
    ),
    Code.CHECKED_IN: CodeInfo(
        200, "Checked in: today's reward is credited to the wallet (data.amount_cents)"
    ),
    Code.SUBSCRIPTION_CHECKED: CodeInfo(
        200, "Subscription checked with the provider; its paid periods are credited once"
    ),
    Code.SUBSCRIPTION_CHANGED: CodeInfo(200, "Subscription changed"),
    Code.REFUND_PENDING: CodeInfo(
        202,
        "Refund recorded and the wallet debited, the payment provider's answer not known yet: "
        "the worker asks again under the same key until it answers (data.status)",
    ),
}
