"""Who may do what on a merchant: the one table of roles, read by every dashboard page and
form (``gateway.dashboard.permissions`` names the action of each route).

An owner manages members, keys, webhooks, fulfilment, the wallet, the top-ups and the settings,
in both environments; live is theirs alone, and so is lifting the kill switch. A developer
manages keys and webhooks in staging (and may pull the kill switch there) and reads the rest.
A viewer reads. Everyone manages their own account (password, sessions, the environment they
look at). Only an owner sees a recipient's spendable code (the gateway's
own voucher, an upstream's redemption code or key): it is the recipient's money, so every page
that shows one, and the staging mailbox, masks it for the others (``reveals_codes``, applied
through ``Caller.sees_codes``). A key made on the dashboard gets
no more than its maker's role: the scopes of ``grantable_scopes``, the code's reveal only from
an owner, and no code at all from a role that sees none (``api_keys.hides_codes``, which every
key it makes inherits). A consent given to an app (``connect``) is such a key: everyone may give
one in staging, with the scopes their role may give there (a viewer: reading), and only an owner
in live, where a consent spends real money and reads real recipients. Either lasts as long as
its giver could give it (``gives``): it ends when they leave the merchant or their role changes
to one that could not.
"""

from typing import Final, Literal, get_args

from ..callers import PERSON
from ..policies.model import SCOPES, UNRESTRICTED, Policy, Scope
from .role_names import ROLES, Role

__all__ = [
    "ACTIONS",
    "RULES",
    "Action",
    "allows",
    "dashboard_policy",
    "describe",
    "gives",
    "grantable_scopes",
    "parse_role",
    "reveals_codes",
    "user_marker",
]


Action = Literal[
    "read",  # any page, any live stream
    "self",  # one's own account: password, sign out everywhere, env switch, invitations
    "keys",
    "webhooks",
    "topups",  # cancel, approve, deny
    "wallet",  # checkout, redeem
    "members",
    "settings",
    "fulfilment",
    "reveal",  # see a recipient's spendable code (not a form: what pages and keys may show)
    "connect",  # give an app a consent (the OAuth consent page)
    "unfreeze",  # lift the environment's kill switch (``freezes.hands``)
]
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)

_EVERYONE: frozenset[Role] = frozenset(ROLES)
_OWNERS: frozenset[Role] = frozenset({"owner"})
_BUILDERS: frozenset[Role] = frozenset({"owner", "developer"})

# action -> env -> the roles allowed it.
RULES: Final[dict[Action, dict[str, frozenset[Role]]]] = {
    "read": {"staging": _EVERYONE, "live": _EVERYONE},
    "self": {"staging": _EVERYONE, "live": _EVERYONE},
    "keys": {"staging": _BUILDERS, "live": _OWNERS},
    "webhooks": {"staging": _BUILDERS, "live": _OWNERS},
    "topups": {"staging": _OWNERS, "live": _OWNERS},
    "wallet": {"staging": _OWNERS, "live": _OWNERS},
    "members": {"staging": _OWNERS, "live": _OWNERS},
    "settings": {"staging": _OWNERS, "live": _OWNERS},
    "fulfilment": {"staging": _OWNERS, "live": _OWNERS},
    "reveal": {"staging": _OWNERS, "live": _OWNERS},
    "connect": {"staging": _EVERYONE, "live": _OWNERS},
    # A developer may pull the switch in staging, as it manages keys there; lifting it loosens
    # every key, consent and budget of the environment at once, which only an owner may.
    "unfreeze": {"staging": _OWNERS, "live": _OWNERS},
}

_WHAT: dict[Action, str] = {
    "read": "read this merchant's pages",
    "self": "manage your own account",
    "keys": "manage API keys",
    "webhooks": "manage webhook endpoints and deliveries",
    "topups": "cancel, approve or deny top-ups",
    "wallet": "buy credit or redeem codes",
    "members": "manage members",
    "settings": "change the merchant's settings",
    "fulfilment": "manage fulfilment",
    "reveal": "see recipients' codes",
    "connect": "connect apps",
    "unfreeze": "unfreeze the environment",
}

# scope -> the action a role must be allowed to give it to a key: a key does through the API
# only what its maker may do on the dashboard.
_SCOPE_ACTION: Final[dict[Scope, Action]] = {
    "topup:send": "keys",
    "topup:read": "read",
    "webhooks": "webhooks",
    "keys": "keys",
    "approvals": "topups",
    "billing": "wallet",
    "fulfilment": "fulfilment",
    # Owners alone: an app that makes keys acts beyond its tokens' hour.
    "keys:manage": "settings",
    # Charges the merchant's saved card: who may set auto top-up on the dashboard.
    "billing:card": "wallet",
    # Pays a seller's 402 from the wallet: spends as a send does.
    "payments:send": "keys",
}


def allows(role: str, action: Action, env: str) -> bool:
    """Whether ``role`` may take ``action`` in ``env``; an unknown role or env may do nothing."""
    return role in RULES[action].get(env, frozenset())


def describe(role: str, action: Action, env: str) -> str:
    """Why a refusal was a refusal, in words a person can act on."""
    who = sorted(RULES[action].get(env, frozenset()))
    return (
        f"As a {role} you cannot {_WHAT[action]} in {env}: that takes "
        f"{' or '.join(who) or 'nobody'}. Ask an owner of this merchant."
    )


def reveals_codes(role: str, env: str) -> bool:
    """Whether ``role`` sees recipients' spendable codes in ``env`` (pages, mailbox, keys)."""
    return allows(role, "reveal", env)


def grantable_scopes(role: str, env: str) -> frozenset[Scope]:
    """The scopes ``role`` may give a key it makes in ``env``: each scope's action allowed."""
    return frozenset(s for s in SCOPES if allows(role, _SCOPE_ACTION[s], env))


def gives(role: str, env: str, policy: Policy, *, consent: bool = True) -> bool:
    """Whether ``role`` may give ``policy`` in ``env``: as a consent to an app (``consent``),
    connect there, or as a key made on the dashboard, manage keys there; either way its scopes
    each grantable, and the code's reveal only where the role sees codes. The one rule a
    consent or a key is given by, and kept by while its giver stays (``accounts.members``)."""
    if not allows(role, "connect" if consent else "keys", env):
        return False
    if policy.reveals_voucher() and not reveals_codes(role, env):
        return False
    return set(policy.scopes) <= grantable_scopes(role, env)


def parse_role(value: str) -> Role | None:
    return next((role for role in ROLES if role == value), None)


# A dashboard user's caller holds every scope (the role table gates each route); it reveals
# codes as its role does.
_REVEALING: Policy = UNRESTRICTED
_MASKING: Policy = UNRESTRICTED.model_copy(update={"reveal_voucher": False})


def dashboard_policy(role: str, env: str) -> Policy:
    """The policy of a dashboard user's caller: revealing codes only where ``role`` does."""
    return _REVEALING if reveals_codes(role, env) else _MASKING


def user_marker(user_id: str) -> str:
    """The dashboard caller's ``key_id``: the user, never a key. It can match no ``api_keys``
    row, so a write that would attribute spend to a key (``topups.api_key_id``,
    ``key_spend.key_id``, both foreign keys) fails instead of inventing a key, and a decision
    recorded with it (``topups.decided_by``) names who made it."""
    return f"{PERSON}{user_id}"
