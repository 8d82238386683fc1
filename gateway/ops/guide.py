"""The agent guide (``/llms.txt``), rendered from the OpenAPI document and the code catalogue,
so it cannot drift from the routes. People read the same document in Swagger UI at ``/docs``
(``explorer.py``).
"""

import json
from typing import Any

from ..values.codes import CATALOGUE
from .mcp_clients import CLIENTS

__all__ = ["llms_txt"]

SEND = ("/api/public/v1/topup/send", "post")
STATUS = ("/api/public/v1/topup/{txn_id}", "get")
BALANCE = ("/api/public/v1/balance", "get")
_METHODS = ("get", "post", "put", "patch", "delete")

_ENVELOPE_EXAMPLE = {
    "success": True,
    "code": 1001,
    "message": "Top-up delivered",
    "transaction_id": "txn_…",
    "status": "delivered",
    "timestamp": "2025-01-01T12:00:00Z",
    "data": {
        "voucher_code": "ATU-XXXX-XXXX-XXXX",
        "platform": "claude",
        "amount_cents": 1000,
        "new_balance_cents": 1000,
        "wallet_balance_cents": 99000,
    },
}


# How an agent adds the gateway as an MCP server (gateway/mcp): the tools are the calls above.
_MCP = [
    "## MCP",
    "",
    "The gateway is also a Model Context Protocol server. Tools: send_topup (the send's JSON",
    "body plus a required idempotency_key), get_balance, get_topup, list_topups, cancel_topup,",
    "redeem_voucher (POST /vouchers/redeem's body: {code}),",
    "get_key_limits (the key's policy, and per limit its spend, what remains, when it resets;",
    "a rolling window's frees_at: when its oldest spend leaves it),",
    "get_topup_info and create_checkout (scope billing: how to fund the wallet, and a checkout",
    "link for a person to pay), checkin (scope billing: the daily check-in reward, once per UTC",
    "day; 4300 with data.next_checkin_at after that).",
    "Every result carries the envelope as structured content and as text; a refusal is an",
    "error result (isError) with its code. Resources: aitopup://codes, aitopup://llms.txt.",
    "Over HTTP a tool beyond your scopes is refused before it runs: 403, WWW-Authenticate",
    '  Bearer error="insufficient_scope", scope="...", a JSON-RPC error whose data is the',
    "  envelope (2301); an OAuth client asks the person for that scope and calls again.",
    "Over streamable HTTP the key goes in the Authorization header ($BASE: this gateway's URL).",
    "Over stdio the client starts `aitopup mcp` on the gateway's machine: set AITOPUP_DIR to",
    "the gateway's folder (where `make run` ran: its .env and store) and AITOPUP_API_KEY to",
    "your key. Ready configurations, one JSON line each:",
    *(
        line
        for each in CLIENTS
        for line in (f"{each.client}, {each.transport}, in {each.where}:", "  " + each.text())
    ),
    "",
]


# What an agent's key may do, and how it is told no: one line per code it can act on.
_LIMITS = [
    "## Your key's limits",
    "",
    "Your key may carry a policy: scopes, a per-send cap, spend limits per calendar window (UTC:",
    "days from 00:00, weeks from Monday, months from the 1st, or all time), a limit per",
    "recipient, allowed platforms and recipients, an approval line, an expiry, a rate limit.",
    "Plan before you send: GET /api/public/v1/keys/self answers, per limit, spent_cents,",
    "remaining_cents and resets_at. Refusals change nothing; tell them apart by code:",
    "  4001 wallet short: data says balance_cents, required_cents, shortfall_cents and where",
    "  to fund (fund.wallet_url, a page for a person; fund.packs that cover it; or a custom",
    "  amount: POST fund.checkout_url, the API endpoint, {amount_cents} or the MCP tool",
    "  create_checkout with a billing key answers data.checkout_url, a link a person opens and",
    "  pays, no success_url needed). The same idempotency key answers the same 402 again, even",
    "  once funded: after funding, send again with a FRESH idempotency key;",
    "  2304 a limit of this key is reached and",
    "  2306 this recipient's limit is reached (data: limit_source, limit_cents, remaining_cents,",
    "  resets_at: wait until then, or send at most remaining_cents); 2305 above the per-send cap",
    "  (send at most limit_cents); 2307 platform and 2308 recipient not allowed (do not retry);",
    "  2301 scope missing; 2302 key expired; 2303 rate limited (wait Retry-After seconds).",
    "A send above the key's approval line answers 202 with code 1006 and status",
    "pending_approval: the amount is held until a person approves (it is then delivered, through",
    "the merchant's New API or OpenRouter when one is set, as a send is) or",
    "denies it (refunded); poll GET /topup/{id}. A key cannot approve its own sends.",
    "",
]

# Where the credit lands (gateway/upstreams): what an agent sees of an upstream provider.
_FULFILMENT = [
    "## Where the credit lands",
    "",
    "A merchant may fulfil a platform through an upstream: `newapi` (a redemption code on its",
    "New API instance) or `openrouter` (a key per recipient, its limit the recipient's total);",
    "`voucher` (ATU-…) is the default. Then the send's reply carries `data.fulfilment`",
    "{provider, reference}: 1001 delivered when the upstream answered in time, or 202 with",
    "code 1002 and status pending, finished by the gateway (poll GET /topup/{id}, or wait for",
    "topup.delivered / topup.failed). After the upstream's last retry, or at once when it",
    "refuses (4xx, bad credentials), the top-up fails with 4004 and is refunded. The code is",
    "the money: `voucher_code` is null unless your key's policy says `reveal_voucher: true`;",
    "the code reaches the recipient alone. Merchants set providers with a key holding the",
    "`fulfilment` scope: GET /fulfilment, PUT /fulfilment/{platform}, POST",
    "/fulfilment/{platform}/test (codes 4200 to 4203).",
    "",
    "The `voucher` is redeemed with the merchant that sent it: when the recipient gives the",
    "code to the merchant's product, it calls POST /api/public/v1/vouchers/redeem {code} with",
    "a key holding `topup:send` in the voucher's environment. 1008: data {code, transaction_id,",
    "platform, amount_cents, recipient_email, redeemed_at, recipient_balance_cents}, the amount",
    "taken from the recipient's balance at that merchant, and a voucher.redeemed event. Once",
    "only: 4241 (409) again, with the first redemption's data; 4242 (409) a top-up not",
    "delivered; 4240 (404) not this key's merchant's and environment's; 4243 (422) not a",
    "voucher code (case, spaces and dashes do not matter).",
    "",
]


# For agents whose tools already speak New API (gateway/api/newapi.py).
_NEWAPI = [
    "## New API's top-up paths",
    "",
    "A client written for New API funds the wallet through its own paths here, with your key",
    "(scope billing): GET /api/user/topup/info, POST /api/user/pay {amount} (whole US dollars:",
    "a checkout of amount * 100 cents; data is the link a person opens to pay), POST",
    "/api/user/topup {key} (a redemption code; data is the quota, 500,000 a dollar) and GET",
    "/api/user/topup/self?p=&page_size= (the orders). Replies are New API's shape, not the",
    'envelope: {"success", "message", "data"}; a refusal is success false with a message.',
    "",
]


# What the recipient is told, and where a tester reads it.
_MAIL = [
    "## The recipient's e-mail",
    "",
    "On delivery the recipient gets an e-mail from the merchant: the amount, the platform, how",
    "to redeem the voucher, and a link to their own page (their balance and every top-up, live).",
    'Add "notify_recipient": false to a send to skip it (the merchant can also turn it off).',
    "Staging mail is never sent: read it with a staging key at GET /api/public/v1/emails",
    "(newest first; each mail's subject, text, html and link); live keys get 4230 there.",
    "GET /api/public/v1/recipients lists the addresses sent to, with balances per platform,",
    "top-up counts and the state of each one's latest e-mail (queued, sent, failed, staged).",
    "",
]


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in _METHODS
    ]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        found: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        return found
    return schema


def _type_of(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " | ".join(_type_of(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    extra = schema.get("format")
    return f"{kind} ({extra})" if extra else str(kind)


def _fields(spec: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    body = _resolve(spec, schema)
    required = set(body.get("required", ()))
    return [
        f"  - {name}: {_type_of(prop)}{'' if name in required else ', optional'}"
        + (f". {prop['description']}" if "description" in prop else "")
        for name, prop in body.get("properties", {}).items()
    ]


def _call(spec: dict[str, Any], title: str, where: tuple[str, str]) -> list[str]:
    path, method = where
    op = spec["paths"].get(path, {}).get(method)
    if op is None:
        return []
    lines = [f"### {title}: {method.upper()} {path}", op["summary"] + "."]
    body = op.get("requestBody")
    if body is not None:
        lines.append("JSON body:")
        lines += _fields(spec, body["content"]["application/json"]["schema"])
    params = op.get("parameters", ())
    if params:
        lines.append("Parameters:")
    for param in params:
        optional = "" if param["required"] else " (optional)"
        lines.append(f"  - {param['in']} {param['name']}{optional}")
    return [*lines, ""]


def llms_txt(spec: dict[str, Any]) -> str:
    lines = [
        "# aiTopUp gateway",
        "",
        "> Send prepaid LLM credits (Claude, ChatGPT, Gemini) to a recipient with one HTTP call.",
        "",
        "Authenticate every call with `Authorization: Bearer ak_staging_…` (sandbox: no real",
        "credits move, and its vouchers read `ATU-TEST-…`) or `ak_live_…`. Send JSON with",
        "`Content-Type: application/json`.",
        "",
        "## The three calls",
        "",
        *_call(spec, "1. Send credits", SEND),
        *_call(spec, "2. Check a top-up", STATUS),
        *_call(spec, "3. Check the wallet", BALANCE),
        "Example, with BASE set to this gateway's URL and KEY to your key",
        "(export BASE=http://127.0.0.1:8000 KEY=ak_staging_…):",
        '  curl -X POST "$BASE/api/public/v1/topup/send" -H "Authorization: Bearer $KEY" \\',
        "    -H 'Content-Type: application/json' -H 'Idempotency-Key: order-42' \\",
        '    -d \'{"platform": "claude", "amount_cents": 1000, '
        '"recipient_email": "user@example.com"}\'',
        "The same in Python (httpx), with BASE and KEY set alike:",
        "  import os, httpx",
        '  reply = httpx.post(os.environ["BASE"] + "/api/public/v1/topup/send",',
        '      headers={"Authorization": "Bearer " + os.environ["KEY"],',
        '               "Idempotency-Key": "order-43"},',
        '      json={"platform": "claude", "amount_cents": 1000,',
        '            "recipient_email": "user@example.com"})',
        "  print(reply.json())",
        "",
        "## The envelope",
        "",
        "Every reply, errors included, is one JSON object. `success` is true for codes below 2000;",
        "`code` is the stable machine answer (the HTTP status fits it); `data` holds the result;",
        "lists add `meta` (cursor lists: limit, has_more, next_cursor).",
        "",
        json.dumps(_ENVELOPE_EXAMPLE, indent=2, ensure_ascii=False),
        "",
        "## Idempotency",
        "",
        "Send an `Idempotency-Key` header (1 to 255 printable ASCII characters) on a send to make",
        "retries safe: the same key with the same body within 24 hours returns the first reply",
        "again (header `Idempotent-Replayed: true`) and moves no money twice; the same key with a",
        "different body is refused with code 4003 (HTTP 409). Retry on 5xx and timeouts with the",
        "same key. An idempotency key belongs to the API key that sent it: another API key's send",
        "under the same idempotency key is its own, and never sees this one's reply.",
        "",
        *_LIMITS,
        *_FULFILMENT,
        *_MAIL,
        *_NEWAPI,
        *_MCP,
        "## Codes",
        "",
        "code  http  name: message",
        *(
            f"{int(code)}  {info.http_status}   {code.name}: {info.message}"
            for code, info in sorted(CATALOGUE.items())
        ),
        "",
        "## Every route",
        "",
        *(f"{m.upper()} {p}: {op['summary']}" for p, m, op in _operations(spec)),
        "",
        "## Webhook events",
        "",
        "Signed POSTs to your endpoints (Standard Webhooks); each body's JSON Schema is in the",
        "OpenAPI document's `webhooks` and at GET /api/public/v1/webhooks/event-types.",
        *(f"{name}: {item['post']['summary']}" for name, item in spec.get("webhooks", {}).items()),
        "",
        "The OpenAPI 3.1 document: /api/public/v1/openapi.json. Explore and try it: /docs.",
        "",
    ]
    return "\n".join(lines)
