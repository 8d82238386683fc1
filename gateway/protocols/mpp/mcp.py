"""MPP's MCP binding (``draft-payment-transport-mcp-00``) for a paid tool, through the
``mpp`` package's MCP types: a send refused for funds is the JSON-RPC error ``-32042`` with
the challenge in ``error.data.challenges`` (and the envelope beside, in ``error.data.envelope``);
the credential comes back in ``params._meta["org.paymentauth/credential"]``; the receipt goes
out in ``result._meta["org.paymentauth/receipt"]``. The payment itself is the paid retry's
(``protocols.paid``): MCP's credential is turned into the HTTP one, whose checks it then meets.

The server advertises the binding in its ``initialize`` result, as the binding's capability
advertisement says: ``capabilities.experimental.payment.methods`` names each method and its
intents (``METHODS``). The ``mpp`` package's own helper (``payment_capabilities``) builds
another shape (``methods`` and ``intents`` as two lists), so the binding's is written here.

A challenge given over MCP advertises no credential header (MCP's challenge object has no
such field), so its binding leaves the header out, as the package's own MCP server does.
"""

from typing import Any

from mpp import Challenge, Receipt
from mpp.extensions.mcp.constants import META_CREDENTIAL
from mpp.extensions.mcp.types import MCPChallenge, MCPCredential, MCPReceipt

from ...values.code_names import Code
from . import challenges

__all__ = ["METHODS", "UNREADABLE", "credential_of", "offer_data", "receipt_meta"]

# ``capabilities.experimental.payment.methods`` of the ``initialize`` result: the methods and
# intents paid here.
METHODS: dict[str, Any] = {challenges.METHOD: {"intents": [challenges.INTENT]}}

# Refused by ``challenges.verify`` as a malformed credential, as an unreadable header is.
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


def offer_data(challenge: Challenge, code: Code) -> dict[str, Any]:
    """What a challenge adds to the JSON-RPC error ``-32042``'s data: the challenge, and the
    refusal's problem."""
    offered = MCPChallenge.from_core(
        challenge, challenge.realm, expires=challenge.expires, description=challenge.description
    )
    return {
        "challenges": [offered.to_dict()],
        "problem": challenges.problem(code, challenge.id, None),
    }


def receipt_meta(receipt: Receipt, challenge_id: str) -> dict[str, Any]:
    """``result._meta`` of a send made with a payment: the receipt, under its key."""
    return MCPReceipt.from_core(receipt, challenge_id, challenges.METHOD).to_meta()
