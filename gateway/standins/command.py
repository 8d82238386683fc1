"""``aitopup dev newapi``, ``aitopup dev openrouter`` and ``aitopup dev x402``: a stand-in served
in the foreground on this machine, with credentials of its own start printed beside what to
type where (the dashboard's Fulfilment page, and for New API the console page a recipient
redeems on; for the x402 facilitator the settings staging pays through, which ``make run``
sets itself, with the JSON-RPC it answers agents' wallets at). A
port that is taken ends the start with a clear line and status 1, before anything is printed
as if it worked. Ctrl-C stops it; what it held goes with it."""

import asyncio
import secrets
import socket
import sys

import uvicorn
from starlette.applications import Starlette

from .newapi import ADMIN_ID, NewApiStandIn
from .openrouter import OpenRouterStandIn

__all__ = ["DEFAULT_PORTS", "serve"]

NEWAPI = "newapi"
OPENROUTER = "openrouter"
X402 = "x402"
# New API's own default port, and ones beside.
DEFAULT_PORTS = {NEWAPI: 3000, OPENROUTER: 3100, X402: 3200}


def _app_and_lines(kind: str, root: str) -> tuple[Starlette, list[str]]:
    if kind == NEWAPI:
        token = secrets.token_hex(16)
        newapi = NewApiStandIn(admin_token=token)
        return newapi.app(), [
            f"New API stand-in at {root} (in memory: Ctrl-C stops it and forgets everything)",
            "On the dashboard's Fulfilment page (staging), provider New API:",
            f"  New API address     {root}",
            f"  Admin access token  {token}",
            f"  Admin user id       {ADMIN_ID}",
            f"A recipient redeems at {root}/console/topup (the default redemption address):",
            "  create an account there, sign in, paste the code, Redeem.",
        ]
    if kind == X402:
        # Imported here: it needs the EVM libraries (a second to import), which the others do not.
        from ..protocols.x402.companion import PAY_TO
        from .x402 import NETWORK, X402FacilitatorStandIn

        return X402FacilitatorStandIn().app(), [
            f"x402 facilitator stand-in at {root} (in memory: Ctrl-C stops it; no chain is asked)",
            f"It verifies and settles the exact scheme on {NETWORK}. For staging, set:",
            f"  AITOPUP_X402_STAGING_FACILITATOR_URL={root}",
            f"  AITOPUP_X402_STAGING_PAY_TO={PAY_TO}",
            f"  AITOPUP_X402_STAGING_RPC_URL={root}/rpc",
        ]
    openrouter = OpenRouterStandIn(management_key="sk-or-v1-" + secrets.token_hex(24))
    return openrouter.app(), [
        f"OpenRouter stand-in at {root}/api/v1 (in memory: Ctrl-C stops it)",
        "On the dashboard's Fulfilment page (staging), provider OpenRouter:",
        f"  API root        {root}/api/v1",
        f"  Management key  {openrouter.management_key}",
        f"A recipient's key spends with POST {root}/api/v1/standin/usage "
        '{"usd": 0.25} (the stand-in\'s own; its page then shows it used).',
    ]


def _bound(host: str, port: int) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        return None
    sock.listen(128)
    return sock


def serve(kind: str, host: str, port: int | None) -> int:
    """Serve the ``kind`` stand-in until stopped: 0 then, 1 if its port cannot be had."""
    chosen = DEFAULT_PORTS[kind] if port is None else port
    sock = _bound(host, chosen)
    if sock is None:
        print(
            f"aitopup dev {kind}: {host}:{chosen} is taken (or not this machine's): "
            "give another with --port",
            file=sys.stderr,
        )
        return 1
    actual = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    app, lines = _app_and_lines(kind, f"http://{shown}:{actual}")
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    for line in lines:
        print(line, flush=True)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
