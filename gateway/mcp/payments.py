"""MPP's MCP binding (``draft-payment-transport-mcp-00``) for ``send_topup``, through the
``mpp`` package's MCP types: a send refused for funds is the JSON-RPC error ``-32042`` with
the challenge in ``error.data.challenges`` (and the envelope beside, in ``error.data.envelope``);
the credential comes back in ``params._meta["org.paymentauth/credential"]``; the receipt goes
out in ``result._meta["org.paymentauth/receipt"]``. The payment itself is the REST door's
(``topup.paying``): MCP's credential is turned into the HTTP one, whose checks it then meets.

The server advertises the binding in its ``initialize`` result, as the binding's capability
advertisement says: ``capabilities.experimental.payment.methods`` names each method and its
intents (``CAPABILITY``). The ``mpp`` package's own helper (``payment_capabilities``) builds
another shape (``methods`` and ``intents`` as two lists), so the binding's is written here.

A challenge given over MCP advertises no credential header (MCP's challenge object has no
such field), so its binding leaves the header out, as the package's own MCP server does.
"""

import json
from typing import Any

from mcp import MCPError
from mpp.extensions.mcp.constants import (
    CODE_PAYMENT_REQUIRED,
    HTTP_STATUS_PAYMENT_REQUIRED,
    META_CREDENTIAL,
)
from mpp.extensions.mcp.types import MCPChallenge, MCPCredential, MCPReceipt

from ..billing import machine_payments
from ..topup.paying import Answered

__all__ = ["CAPABILITY", "UNREADABLE", "credential_of", "payment_required", "receipt_meta"]

# ``capabilities.experimental`` of the ``initialize`` result: the methods and intents paid here.
CAPABILITY: dict[str, dict[str, Any]] = {
    "payment": {"methods": {machine_payments.METHOD: {"intents": [machine_payments.INTENT]}}}
}

# Refused by ``machine_payments.verify`` as a malformed credential, as an unreadable header is.
UNREADABLE = "Payment !"


def credential_of(meta: dict[str, Any] | None) -> str | None:
    """The credential in a call's ``_meta``, as the HTTP header carries it; None if absent."""
    if not meta or META_CREDENTIAL not in meta:
        return None
    try:
        found = MCPCredential.from_meta(meta)
        if found is None:
            return UNREADABLE
        return found.to_core().to_authorization()
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError):
        # An outsider's object: whatever reading it raises (nested past the encoder's depth
        # included), it is refused as an unreadable header is.
        return UNREADABLE


def payment_required(answered: Answered) -> MCPError:
    """The JSON-RPC error ``-32042`` of a refusal that carries a challenge."""
    challenge = answered.challenge
    assert challenge is not None
    offered = MCPChallenge.from_core(
        challenge, challenge.realm, expires=challenge.expires, description=challenge.description
    )
    outcome = answered.outcome
    data = {
        "httpStatus": HTTP_STATUS_PAYMENT_REQUIRED,
        "challenges": [offered.to_dict()],
        "problem": machine_payments.problem(outcome.code, challenge.id, None),
        "envelope": json.loads(outcome.body().render()),
    }
    return MCPError(CODE_PAYMENT_REQUIRED, "Payment Required", data)


def receipt_meta(answered: Answered) -> dict[str, Any] | None:
    """``result._meta`` of a send made with a payment: the receipt, under its key."""
    if answered.receipt is None or answered.paid_challenge_id is None:
        return None
    receipt = MCPReceipt.from_core(
        answered.receipt, answered.paid_challenge_id, machine_payments.METHOD
    )
    return receipt.to_meta()
