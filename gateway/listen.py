"""``aitopup listen``: a local webhook receiver for trying the gateway out.

It verifies both signature headers with the endpoint's secret and prints each event, the way a
merchant's own receiver should: refuse anything unsigned, forged or stale with a 400.
"""

import json
import sys
from typing import TextIO

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keys import BadSignature, decode_webhook_secret, verify_aitopup, verify_standard

__all__ = ["listener_app"]


def listener_app(secret: str, out: TextIO = sys.stdout) -> Starlette:
    key = decode_webhook_secret(secret)

    async def receive(request: Request) -> Response:
        body = await request.body()
        headers = request.headers
        try:
            verify_standard(
                key,
                headers.get("webhook-id", ""),
                headers.get("webhook-timestamp", ""),
                headers.get("webhook-signature", ""),
                body,
            )
            verify_aitopup(key, headers.get("x-aitopup-signature", ""), body)
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
