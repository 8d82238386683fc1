import io
import json
import time

import httpx

from gateway.listen import listener_app
from keys import decode_webhook_secret, new_webhook_secret, sign_headers


async def test_listener_prints_verified_events_and_refuses_forgeries() -> None:
    secret = new_webhook_secret()
    out = io.StringIO()
    transport = httpx.ASGITransport(app=listener_app(secret, out))
    body = json.dumps({"id": "evt_1", "type": "topup.delivered", "data": {"amount_cents": 5}})
    signed = sign_headers([decode_webhook_secret(secret)], "evt_1", int(time.time()), body.encode())
    async with httpx.AsyncClient(transport=transport, base_url="http://listener") as http:
        ok = await http.post("/hook", content=body, headers=signed)
        forged = await http.post("/hook", content=body + " ", headers=signed)
        unsigned = await http.post("/hook", content=body)
    assert ok.status_code == 200
    assert (forged.status_code, unsigned.status_code) == (400, 400)
    lines = out.getvalue().splitlines()
    assert lines[0] == 'topup.delivered evt_1: {"amount_cents": 5}'
    assert lines[1].startswith("refused") and lines[2].startswith("refused")
