"""``aitopup listen``: a local webhook receiver for trying the gateway out.

It verifies each event the way a merchant's own receiver should and prints it, refusing anything
unsigned, forged or stale with a 400: with the endpoint's ``whsec_`` secret, both HMAC headers
(``webhook-signature``'s ``v1,`` and ``X-AiTopUp-Signature``); with its ``whpk_`` public key, the
ed25519 ``v1a,`` signatures; given both (space-separated), both. The secret comes from the
environment or standard input, never the command line, where every user of the machine can read
it in the process list.
"""

import getpass
import json
import os
import sys
from collections.abc import Mapping
from typing import TextIO

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keys import BadSignature

from .webhooks.verifying import Verifier

__all__ = ["SECRET_ENV", "NoSecret", "listener_app", "read_secret"]

SECRET_ENV = "AITOPUP_LISTEN_SECRET"  # noqa: S105  (the variable's name, not a secret)


class NoSecret(Exception):
    HOW = f"set {SECRET_ENV}, or pipe the secret on standard input"

    def __init__(self) -> None:
        super().__init__(f"no webhook secret: {self.HOW}")


def read_secret(environ: Mapping[str, str] = os.environ, stdin: TextIO | None = None) -> str:
    """``AITOPUP_LISTEN_SECRET``, or else one line of standard input (asked for, unechoed, at a
    terminal); raises ``NoSecret`` when both are empty."""
    secret = environ.get(SECRET_ENV, "").strip()
    if not secret:
        stdin = sys.stdin if stdin is None else stdin
        if stdin.isatty():
            secret = getpass.getpass("webhook secret (whsec_… or whpk_…): ", stream=sys.stderr)
        else:
            secret = stdin.readline()
        secret = secret.strip()
    if not secret:
        raise NoSecret
    return secret


def listener_app(secret: str, out: TextIO = sys.stdout) -> Starlette:
    """``secret``: a ``whsec_`` secret, a ``whpk_`` public key, or both, space-separated; a
    request must pass every scheme given."""
    verifier = Verifier.of(secret.split())

    async def receive(request: Request) -> Response:
        body = await request.body()
        try:
            verifier.check(request.headers, body)
        except BadSignature as exc:
            print(f"refused: {exc}", file=out, flush=True)
            return JSONResponse({"error": "bad signature"}, status_code=400)
        event = json.loads(body)
        print(
            f"{event.get('type')} {event.get('id')}: {json.dumps(event.get('data'))}",
            file=out,
            flush=True,
        )
        return JSONResponse({"received": True})

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])
