"""The code catalogue's 2xxx band: auth and keys, who calls, with what, and how often.
``codes.CATALOGUE`` holds every band."""

from .code_names import Code, CodeInfo
from .marking import marked

__all__ = ["AUTH"]

AUTH: dict[Code, CodeInfo] = {
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
        "Too many checkouts, invoices and payment checks, or too many payments to sellers, for "
        "this merchant in this environment; see Retry-After",
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
        402,
        "This API key's spend limit for the window is reached; see data.resets_at (a rolling "
        "window: data.frees_at)",
    ),
    Code.KEY_PER_SEND_CAP: CodeInfo(403, "Amount is above this API key's per-send maximum"),
    Code.KEY_PER_RECIPIENT_LIMIT: CodeInfo(
        402, "This API key's limit for this recipient in the window is reached"
    ),
    Code.KEY_PLATFORM_NOT_ALLOWED: CodeInfo(403, "This API key may not send to this platform"),
    Code.KEY_RECIPIENT_NOT_ALLOWED: CodeInfo(403, "This API key may not send to this recipient"),
    Code.KEY_PAYEE_NOT_ALLOWED: CodeInfo(
        403,
        "This API key may not pay this payee: neither where the money goes (its destination, "
        "or a name of it) nor the origin it names is in allowed_payees; nothing was paid",
    ),
    Code.KEY_PER_PAYEE_LIMIT: CodeInfo(
        402, "This API key's limit for this payee in the window is reached; nothing was paid"
    ),
    Code.KEY_SELF_APPROVAL: CodeInfo(
        403, "A key cannot approve or deny a send or a payment it made itself"
    ),
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
    Code.HELD_KEY_REVOKED: CodeInfo(
        409,
        "The key that asked for this send or payment was revoked: its hold is ended and its "
        "amount given back; nothing can be approved",
    ),
    Code.HELD_KEY_EXPIRED: CodeInfo(
        409,
        "The key that asked for this send or payment has expired: its hold is ended and its "
        "amount given back; nothing can be approved",
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
        "data.resets_at (a rolling window: data.frees_at)",
    ),
    # Marked: the Send form shows these two in the member's words.
    Code.BUDGET_FROZEN: CodeInfo(
        403, marked("A budget this payment draws on is frozen: it admits nothing until unfrozen")
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
    Code.ENVIRONMENT_FROZEN: CodeInfo(
        423,
        marked(
            "This environment is frozen: its keys, consents and app tokens are refused until a "
            "person unfreezes it"
        ),
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
    Code.PAYER_KEY_FOR_MERCHANT_ONLY: CodeInfo(
        403,
        "Only the merchant sets, lists or removes its payer keys: a key of its own with "
        "billing, or an owner on the dashboard; never an app's token or the key an app manages",
    ),
    Code.APPROVAL_LINK_INVALID: CodeInfo(
        404,
        "This approval link is unknown, used already, or what it decides (a send, a payment) "
        "is no longer awaiting approval; nothing was decided",
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
        "data.resets_at (a rolling window: data.frees_at)",
    ),
}
