"""Staging's x402 facilitator under ``make run``: the stand-in (``aitopup dev x402``) on a free
loopback port, named to the gateway in its environment, so staging's 402s offer x402 and its
payments settle there, and its agents' wallets ask its JSON-RPC whether their payments were
used. Live is untouched: it stays off unless the operator sets its own terms."""

import importlib.util
import sys

from ...redis_server import free_port
from ...values.settings import Settings
from ..base import Companion

__all__ = ["PAY_TO", "facilitator"]

# Where staging's payments go when the operator names no address: nobody's wallet (no chain
# is asked), printed by ``aitopup dev x402`` and set by ``make run``.
PAY_TO = "0x000000000000000000000000000000000000a402"
_HOST = "127.0.0.1"


def facilitator(settings: Settings, env: dict[str, str]) -> Companion | None:
    """The stand-in, its address, its JSON-RPC (and ``PAY_TO``), each where the operator named
    none, written into ``env``; None where the operator named a facilitator, or the EVM
    libraries the stand-in needs are not installed."""
    if settings.x402_staging_facilitator_url or importlib.util.find_spec("eth_keys") is None:
        return None
    port = free_port()
    url = f"http://{_HOST}:{port}"
    env["AITOPUP_X402_STAGING_FACILITATOR_URL"] = url
    if not settings.x402_staging_rpc_url:
        env["AITOPUP_X402_STAGING_RPC_URL"] = f"{url}/rpc"
    if not settings.x402_staging_pay_to:
        env["AITOPUP_X402_STAGING_PAY_TO"] = PAY_TO
    return Companion(
        "x402 facilitator",
        (sys.executable, "-m", "gateway.cli", "dev", "x402", "--host", _HOST, "--port", str(port)),
        f"staging's x402 facilitator (aitopup dev x402): {url}",
    )
