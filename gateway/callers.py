"""Who is calling: an API key, or an app's access token, authenticated to its merchant and
environment.

``authenticate`` is a plain function every door calls (the REST middleware, MCP, the CLI): the
presented key is parsed, looked up by its peppered HMAC (so the comparison never touches the raw
key), and refused, each case with its own code, if unknown, revoked or expired. An OAuth access
token (``oat_…``) is looked up the same way and acts as its consent's key (``gateway.apps``),
on the door of the resource it was issued for, with no more than the scopes recorded on the
token itself (a refresh may have narrowed them): a credential acts with exactly what it was
given, within what its issuer may give. The caller carries the key's policy: every door
checks scopes and limits through ``gateway.policies``.

A frozen environment (``gateway.freezes``: the flag on its merchant wallet, read with the key in
the same statement, so it costs no read of its own) refuses every key and token of it here, on
every door and in every process, from the next request; only the doors of the freeze itself
(``frozen_ok``) let one through. A payment already past this read is stopped by its debit,
which is conditional on the same flag (``ledger.conditional_debit``).
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keys import (
    InvalidApiKey,
    InvalidCredential,
    credential_kind,
    hash_api_key,
    hash_credential,
    parse_api_key,
)

from .policies.model import UNRESTRICTED, Policy, Scope
from .policies.rules import Consent
from .policies.templates import effective_of, under_consent
from .store.engine import Database
from .store.raw import Raw, Statement
from .values.clock import rfc3339, utcnow
from .values.code_names import Code
from .values.outcome import ApiError
from .values.resources import Resource

__all__ = [
    "CARD",
    "PERSON",
    "Caller",
    "authenticate",
    "levels_of",
    "of_key",
    "require_card",
    "require_scope",
]

# How a dashboard person's caller's ``key_id`` begins (``accounts.roles.user_marker``): it can
# match no key.
PERSON = "user:"

# One statement per request: the key, its merchant and the wallet of its environment. Every
# merchant has a wallet per environment from the moment it is created.
_CALLER = """k.id, k.env, k.revoked_at, k.merchant_id,
        COALESCE(w.low_balance_threshold_cents, m.low_balance_threshold_cents)
            AS low_balance_threshold_cents, w.low_thresholds_cents,
        w.id AS wallet_id, w.frozen_at, k.policy, k.hides_codes, m.notify_recipients,
        EXISTS (SELECT 1 FROM fulfilment_settings f
            WHERE f.merchant_id = k.merchant_id AND f.env = k.env) AS upstreams,
        pt.policy AS template_policy, k.managed_by, c.policy AS consent_policy,
        c.revoked_at AS consent_revoked_at, ct.policy AS consent_template"""
_CALLER_NAMES = (
    "id",
    "env",
    "revoked_at",
    "merchant_id",
    "low_balance_threshold_cents",
    "low_thresholds_cents",
    "wallet_id",
    "frozen_at",
    "policy",
    "hides_codes",
    "notify_recipients",
    "upstreams",
    "template_policy",
    "managed_by",
    "consent_policy",
    "consent_revoked_at",
    "consent_template",
)
# The key's template is read in the same statement, so a change to a template holds on every
# process from the next request (``policies.templates``); so are, for a key an app manages, its
# consent and the consent's template, so the consent as it stands bounds the key.
_OF_KEY = """JOIN merchants m ON m.id = k.merchant_id
    JOIN wallets w ON w.env = k.env AND w.owner = 'm:' || k.merchant_id
    LEFT JOIN policy_templates pt ON pt.id = k.template_id
    LEFT JOIN api_keys c ON c.id = k.managed_by
    LEFT JOIN policy_templates ct ON ct.id = c.template_id"""
_LOOKUP = Statement(
    f"SELECT {_CALLER} FROM api_keys k {_OF_KEY} WHERE k.key_hash = :key_hash",  # noqa: S608
    _CALLER_NAMES,
)
# The same, for a key named by its id among its merchant's of one environment (the dashboard's
# send, acting as a key the member picks).
_BY_ID = Statement(
    f"""SELECT {_CALLER} FROM api_keys k {_OF_KEY}
    WHERE k.id = :key_id AND k.merchant_id = :merchant_id AND k.env = :env""",  # noqa: S608
    _CALLER_NAMES,
)
# The same, for an access token: its consent's key, and the token's own state.
_TOKEN_LOOKUP = Statement(
    f"""SELECT {_CALLER}, t.app_id, t.resource, t.expires_at AS token_expires_at,
        t.revoked_at AS token_revoked_at, t.scopes AS token_scopes
    FROM oauth_tokens t JOIN api_keys k ON k.id = t.key_id {_OF_KEY}
    WHERE t.token_hash = :token_hash AND t.kind = 'access'""",  # noqa: S608
    (*_CALLER_NAMES, "app_id", "resource", "token_expires_at", "token_revoked_at", "token_scopes"),
)


@dataclass(frozen=True, slots=True)
class Caller:
    key_id: str
    merchant_id: str
    env: str
    low_balance_threshold_cents: int
    wallet_id: str  # the merchant's wallet in this key's environment
    policy: Policy
    # Whether any platform of this merchant's env has an upstream provider (read with the key,
    # so a send through the voucher pays no further read); ``None``: not known, read it.
    upstreams: bool | None = None
    # Whether the merchant sends its recipients the voucher e-mail (read with the key);
    # ``None``: not known (the send's own write still asks the merchant's row).
    notify_recipients: bool | None = None
    # The app acting through a consent (an OAuth access token); ``None``: a key of the merchant.
    app_id: str | None = None
    # A dashboard member whose role does not see codes (``accounts.roles.reveals_codes``), or a
    # key such a member (or such a key) made (``api_keys.hides_codes``): every spendable code
    # is hidden, the gateway's own voucher's too.
    hides_every_code: bool = False
    # A key an app manages (``apps.managed``): the consent it was made through, as it stands
    # now. Its policy is within the consent's (``templates.under_consent``) and every payment
    # counts in the consent's windows too (``rules.judge``).
    consent: Consent | None = None
    # The wallet's low-balance levels, highest first, where it has a list of them
    # (``wallets.low_thresholds_cents``); ``None``: its one ``low_balance_threshold_cents``.
    low_levels: tuple[int, ...] | None = None

    @property
    def alert_levels(self) -> tuple[int, ...]:
        """The levels ``balance.low`` tells of (``ledger.alerts``)."""
        if self.low_levels is None:
            return (self.low_balance_threshold_cents,)
        return self.low_levels

    @property
    def managed(self) -> bool:
        """A key an app manages: a key of the merchant's, yet the app's to use, so it is an
        app's act where that matters (``require_card``)."""
        return self.consent is not None

    @property
    def legacy(self) -> bool:
        """A key made before policies: every scope, no limit."""
        return self.policy is UNRESTRICTED

    def sees_codes(self, *, upstream: bool) -> bool:
        """Whether this caller sees a spendable code: an upstream's (``upstream``) or the
        gateway's own voucher. The one rule of every reply, page, mail view and stream that
        shows a code: a dashboard member sees none unless their role reveals codes; an app
        (a consent a member gave) none unless its consent reveals them, which only a role that
        reveals codes may give; a key sees the gateway's own, and an upstream's only if its
        policy reveals them."""
        if self.hides_every_code:
            return False
        if upstream or self.app_id is not None:
            return self.policy.reveals_voucher()
        return True

    def person(self) -> str | None:
        """The user id of the dashboard person this caller is, ``None`` for a key or an app."""
        if self.app_id is None and self.key_id.startswith(PERSON):
            return self.key_id[len(PERSON) :]
        return None

    def decides_holds(self) -> bool:
        """Whether this caller may itself decide a held send or payment: a key of the
        merchant's with the ``approvals`` scope that sees codes, or a dashboard member whose role
        decides top-ups (the one role that does, the owner, is the one that sees codes; another
        member's caller hides every code). An app never: a mailed decision link decides as a
        member. The staging mailbox shows a hold's mailed link to such a reader alone."""
        if self.app_id is not None or self.hides_every_code:
            return False
        return self.policy.allows("approvals")


async def authenticate(
    db: Database,
    pepper: bytes,
    presented: str,
    *,
    now: datetime | None = None,
    resource: Resource | None = None,
    frozen_ok: bool = False,
) -> Caller:
    """The caller behind ``presented`` (the bare ``ak_…`` key, or an ``oat_…`` access token
    on a door that serves ``resource``), or ``ApiError``; refused while its environment is
    frozen unless ``frozen_ok`` (the freeze's own doors)."""
    if presented.startswith("oat_"):
        return await _by_token(db, pepper, presented, now or utcnow(), resource)
    try:
        key = parse_api_key(presented)
    except InvalidApiKey:
        raise ApiError(Code.AUTH_MALFORMED) from None
    key_hash = hash_api_key(key, pepper)

    async def lookup(tx: Raw) -> dict[str, Any] | None:
        return await tx.fetchrow(_LOOKUP, {"key_hash": key_hash})

    row = await db.run(lookup, read_only=True)
    if row is None:
        raise ApiError(Code.AUTH_UNKNOWN)
    return _caller(row, now or utcnow(), frozen_ok=frozen_ok)


async def of_key(
    db: Database, merchant_id: str, env: str, key_id: str, *, now: datetime | None = None
) -> Caller:
    """The caller of the merchant's key ``key_id`` in ``env``, as if it were presented: its
    policy, revoked and expired as ``authenticate`` says. Another merchant's or environment's
    key is unknown, as an unknown one is."""

    async def lookup(tx: Raw) -> dict[str, Any] | None:
        params = {"key_id": key_id, "merchant_id": merchant_id, "env": env}
        return await tx.fetchrow(_BY_ID, params)

    row = await db.run(lookup, read_only=True)
    if row is None:
        raise ApiError(Code.AUTH_UNKNOWN)
    return _caller(row, now or utcnow())


def _caller(
    row: dict[str, Any],
    now: datetime,
    app_id: str | None = None,
    scopes: Iterable[str] | None = None,
    *,
    frozen_ok: bool = False,
) -> Caller:
    """The caller of a key row, acting with the key's policy, or with its ``scopes`` alone
    where the credential presented records fewer (a token narrowed at its refresh). An app's
    token is never ``frozen_ok``: only a merchant's own key may undo a freeze."""
    if row["revoked_at"] is not None:
        raise ApiError(Code.AUTH_REVOKED)
    if row["frozen_at"] is not None and not (frozen_ok and app_id is None):
        raise ApiError(Code.ENVIRONMENT_FROZEN, data={"env": str(row["env"])})
    policy = effective_of(row["policy"], row["template_policy"])
    consent = None
    if row["managed_by"] is not None:
        consent = _consent(row)
        policy = under_consent(policy, consent.policy)
    if scopes is not None:
        policy = policy.narrowed(scopes)
    if policy.expires_at is not None and policy.expires_at <= now:
        raise ApiError(Code.KEY_EXPIRED, data={"expires_at": rfc3339(policy.expires_at)})
    return Caller(
        str(row["id"]),
        str(row["merchant_id"]),
        str(row["env"]),
        int(row["low_balance_threshold_cents"]),
        str(row["wallet_id"]),
        policy,
        bool(row["upstreams"]),
        bool(row["notify_recipients"]),
        app_id,
        bool(row["hides_codes"]),
        consent,
        levels_of(row["low_thresholds_cents"]),
    )


def levels_of(stored: Any) -> tuple[int, ...] | None:
    """A wallet's ``low_thresholds_cents`` as read (JSON text, or decoded), highest first."""
    if stored is None:
        return None
    found = json.loads(stored) if isinstance(stored, str) else stored
    if found is None:
        return None
    return tuple(sorted((int(v) for v in found), reverse=True))


def _consent(row: dict[str, Any]) -> Consent:
    """The consent of a key an app manages, as the key's row was read with it: a consent that
    ended (it ends its key with it, ``merchants.keys.revoke_consents``) refuses the key all the
    same, as the consent's token would be."""
    if row["consent_policy"] is None or row["consent_revoked_at"] is not None:
        raise ApiError(Code.AUTH_REVOKED)
    held = effective_of(row["consent_policy"], row["consent_template"])
    return Consent(str(row["managed_by"]), held)


async def _by_token(
    db: Database, pepper: bytes, presented: str, now: datetime, resource: Resource | None
) -> Caller:
    """An access token: live, not revoked, for this door's resource, and its consent standing."""
    try:
        kind, _ = credential_kind(presented)
    except InvalidCredential:
        raise ApiError(Code.AUTH_MALFORMED) from None
    if kind != "oat":
        raise ApiError(Code.AUTH_MALFORMED)
    token_hash = hash_credential(presented, pepper)

    async def lookup(tx: Raw) -> dict[str, Any] | None:
        found = await tx.fetchrow(_TOKEN_LOOKUP, {"token_hash": token_hash})
        if found is not None:
            found["token_expires_at"] = tx.timestamp(found["token_expires_at"])
        return found

    row = await db.run(lookup, read_only=True)
    if row is None:
        raise ApiError(Code.AUTH_UNKNOWN)
    if row["token_revoked_at"] is not None:
        raise ApiError(Code.TOKEN_REVOKED)
    expires_at = row["token_expires_at"]
    if expires_at is None or expires_at <= now:
        raise ApiError(Code.TOKEN_EXPIRED)
    if resource is None or not resource.accepts(row["resource"]):
        raise ApiError(Code.TOKEN_WRONG_RESOURCE)
    return _caller(row, now, str(row["app_id"]), _scopes(row["token_scopes"]))


def _scopes(stored: Any) -> tuple[str, ...]:
    """A token's recorded scopes, as the driver returned the JSON column (text on SQLite and
    asyncpg's default codec). Anything unreadable records no scope: the token then does nothing
    its consent's policy alone would allow."""
    value = json.loads(stored) if isinstance(stored, str) else stored
    if not isinstance(value, list):
        return ()
    return tuple(s for s in value if isinstance(s, str))


CARD: Scope = "billing:card"


def require_card(caller: Caller) -> None:
    """Refuse a call that could charge the merchant's saved card (auto top-up, the saved
    payment method) unless the merchant itself makes it: an app's token or the key an app
    manages never (2390, whatever its scopes), and a key only with ``billing:card`` (2301). A
    dashboard member's caller holds every scope; the role table gates their form."""
    if caller.app_id is not None or caller.managed:
        raise ApiError(Code.CARD_FOR_MERCHANT_ONLY, data={"scope": CARD})
    require_scope(caller, CARD)


def require_scope(caller: Caller, scope: Scope) -> None:
    """Refuse (2301) a call the key's scopes do not cover; every door checks before it acts."""
    if not caller.policy.allows(scope):
        raise ApiError(Code.KEY_SCOPE_MISSING, data={"scope": scope})
