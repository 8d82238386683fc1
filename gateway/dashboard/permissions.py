"""The action of every dashboard route, so the role table (``accounts.roles``) is checked in one
place: ``context.require_viewer``, which every signed-in page and form calls first, before it
reads the form or changes anything.

A route is named by its method and its path as written in its ``Route`` (``tag`` records the
path in the request's scope when the route matches). A GET not listed is a read; a form not
listed is refused to everyone, and a test keeps every form of the dashboard listed.
"""

from collections.abc import Iterable

from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..accounts.roles import Action

__all__ = ["FORMS", "action_of", "tag"]

_ROUTE = "aitopup.dashboard.route"
_EP = "/webhooks/endpoints/{endpoint_id}"
_DLV = "/webhooks/deliveries/{delivery_id}"

# (method, route path) -> action, for every route that changes something.
FORMS: dict[tuple[str, str], Action] = {
    ("POST", "/env"): "self",
    ("POST", "/account/password"): "self",
    ("POST", "/account/sign-out-everywhere"): "self",
    ("POST", "/account/language"): "self",
    ("POST", "/invitations/{merchant_id}/accept"): "self",
    ("POST", "/oauth/consent"): "self",
    ("POST", "/keys"): "keys",
    ("POST", "/apps"): "keys",
    ("POST", "/apps/{app_id}/rotate"): "keys",
    ("POST", "/apps/{app_id}/delete"): "keys",
    ("POST", "/apps/connected/{key_id}/revoke"): "keys",
    ("POST", "/keys/{key_id}/policy"): "keys",
    ("POST", "/keys/{key_id}/revoke"): "keys",
    ("POST", "/keys/templates"): "keys",
    ("POST", "/keys/templates/{template_id}"): "keys",
    ("POST", "/keys/templates/{template_id}/preview"): "keys",
    ("POST", "/keys/templates/{template_id}/delete"): "keys",
    ("POST", "/topups/send"): "topups",
    ("POST", "/topups/send/key"): "keys",  # a key made in place, as on the Keys page
    ("POST", "/topups/{txn_id}/approve"): "topups",
    ("POST", "/topups/{txn_id}/deny"): "topups",
    ("POST", "/topups/{txn_id}/cancel"): "topups",
    ("POST", "/topups/approvals/payments/{payment_id}/approve"): "topups",
    ("POST", "/topups/approvals/payments/{payment_id}/deny"): "topups",
    ("POST", "/recipients/revoke-links"): "topups",
    ("POST", "/wallet/checkout"): "wallet",
    ("POST", "/wallet/redeem"): "wallet",
    ("POST", "/wallet/vouchers/take-back"): "topups",
    ("POST", "/wallet/subscribe"): "wallet",
    ("POST", "/wallet/subscription/portal"): "wallet",
    ("POST", "/wallet/subscription/checkout/cancel"): "wallet",
    ("POST", "/wallet/checkin"): "wallet",
    ("POST", "/wallet/clock/advance"): "wallet",
    ("POST", "/wallet/alerts"): "wallet",
    ("POST", "/wallet/auto-top-up"): "wallet",
    ("POST", "/wallet/auto-top-up/setup"): "wallet",
    ("POST", "/wallet/auto-top-up/remove"): "wallet",
    ("POST", "/payments/bindings"): "topups",
    ("POST", "/payments/bindings/{binding_id}/remove"): "topups",
    ("POST", "/wallet/payer-keys"): "wallet",
    ("POST", "/wallet/payer-keys/{protocol}/remove"): "wallet",
    ("POST", "/webhooks/endpoints"): "webhooks",
    ("POST", _EP): "webhooks",
    ("POST", _EP + "/enabled"): "webhooks",
    ("POST", _EP + "/rotate"): "webhooks",
    ("POST", _EP + "/test"): "webhooks",
    ("POST", _EP + "/recover"): "webhooks",
    ("POST", _EP + "/delete"): "webhooks",
    ("POST", _DLV + "/replay"): "webhooks",
    ("POST", "/members"): "members",
    ("POST", "/members/{user_id}/role"): "members",
    ("POST", "/members/{user_id}/remove"): "members",
    ("POST", "/settings"): "settings",
    ("POST", "/settings/billing-profile"): "settings",
    ("POST", "/settings/vouchers"): "settings",
    ("POST", "/settings/language"): "settings",
    ("POST", "/mail/settings"): "settings",
    ("POST", "/wallet/orders/{order_id}/check"): "wallet",
    ("POST", "/fulfilment/{platform}"): "fulfilment",
    ("POST", "/fulfilment/{platform}/test"): "fulfilment",
    ("POST", "/telegram/code"): "topups",
    ("POST", "/budgets"): "keys",
    ("POST", "/budgets/{budget_id}"): "keys",
    ("POST", "/budgets/{budget_id}/freeze"): "keys",
    ("POST", "/budgets/{budget_id}/delete"): "keys",
    ("POST", "/freeze"): "keys",
    ("POST", "/freeze/off"): "unfreeze",
}
# Forms a visitor posts before signing in: no role applies (they never call require_viewer).
SIGNED_OUT = {
    ("POST", "/sign-in"),
    ("POST", "/sign-up"),
    ("POST", "/sign-out"),
    ("POST", "/set-password"),
    ("POST", "/forgot-password"),
    ("POST", "/reset-password"),
    # A recipient's request for a fresh link to their page: no account, no role.
    ("POST", "/recipient/{token}/link"),
    # A held send's or payment's one-time decision link (``approvals.links``): the link is the
    # credential, and decides as the approver it was mailed to.
    ("POST", "/approval"),
}
_READS = {"GET", "HEAD"}


class _Tagged:
    def __init__(self, path: str, app: ASGIApp) -> None:
        self.path = path
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_ROUTE] = self.path
        await self.app(scope, receive, send)


def tag(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """``routes``, each ``Route`` recording its path in the scope when it answers."""
    tagged = list(routes)
    for route in tagged:
        if isinstance(route, Route):
            route.app = _Tagged(route.path, route.app)
    return tagged


def action_of(scope: Scope) -> Action | None:
    """The action of the request's route; ``None``: a form nobody may post."""
    method = str(scope.get("method", "GET"))
    path = scope.get(_ROUTE)
    if method in _READS:
        return "read"
    if not isinstance(path, str):
        return None
    return FORMS.get((method, path))
