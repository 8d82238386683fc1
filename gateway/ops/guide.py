"""The human page (``/docs``) and the agent guide (``/llms.txt``), both rendered from the OpenAPI
document and the code catalogue, so neither can drift from the routes.

The page is plain server-rendered HTML with inline styles: it needs no script or asset from
anywhere, so it works on a machine with no internet access.
"""

import json
from html import escape
from typing import Any

from ..codes import CATALOGUE

__all__ = ["docs_html", "llms_txt"]

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
    },
}


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
        "Example:",
        "  curl -X POST $BASE/api/public/v1/topup/send -H 'Authorization: Bearer $KEY' \\",
        "    -H 'Content-Type: application/json' -H 'Idempotency-Key: order-42' \\",
        '    -d \'{"platform": "claude", "amount_cents": 1000, '
        '"recipient_email": "user@example.com"}\'',
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
        "same key.",
        "",
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
        "The OpenAPI 3.1 document: /api/public/v1/openapi.json. The readable page: /docs.",
        "",
    ]
    return "\n".join(lines)


_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.op{border:1px solid #ddd;border-radius:6px;margin:1em 0;padding:.6em 1em}
.m{display:inline-block;min-width:4.5em;font-weight:bold;font-family:monospace}
.get{color:#0a6}.post{color:#06c}.patch{color:#a60}.delete{color:#c22}.put{color:#a0a}
code,pre{font-family:ui-monospace,monospace;font-size:13px;background:#f6f6f6}
pre{padding:.6em;overflow:auto}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}
"""


def _pre(value: Any) -> str:
    return f"<pre>{escape(json.dumps(value, indent=2, ensure_ascii=False))}</pre>"


def _op_html(path: str, method: str, op: dict[str, Any]) -> str:
    parts = [
        f'<div class="op" id="{escape(op["operationId"])}">',
        f'<div><span class="m {method}">{method.upper()}</span> <code>{escape(path)}</code>'
        f" — {escape(op['summary'])}</div>",
        f"<div>Auth: {escape(', '.join(k for s in op['security'] for k in s) or 'none')}</div>",
    ]
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
            f"<td>{'yes' if p['required'] else 'no'}</td><td>{escape(_type_of(p['schema']))}</td>"
            f"<td>{escape(p.get('description', ''))}</td></tr>"
            for p in params
        )
        parts.append(
            "<table><tr><th>parameter</th><th>in</th><th>required</th><th>type</th>"
            f"<th></th></tr>{rows}</table>"
        )
    body = op.get("requestBody")
    if body is not None:
        ref = body["content"]["application/json"]["schema"].get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        parts.append(f'<div>Body: <a href="#schema-{escape(name)}">{escape(name)}</a></div>')
    rows = "".join(
        f"<tr><td>{escape(status)}</td><td>{escape(reply['description'])}</td></tr>"
        for status, reply in op["responses"].items()
    )
    parts.append(f"<table><tr><th>HTTP</th><th>codes</th></tr>{rows}</table>")
    details = _pre(op["responses"])
    parts.append(f"<details><summary>Reply schemas</summary>{details}</details></div>")
    return "".join(parts)


def docs_html(spec: dict[str, Any]) -> str:
    info = spec["info"]
    by_tag: dict[str, list[str]] = {}
    for path, method, op in _operations(spec):
        by_tag.setdefault(op["tags"][0], []).append(_op_html(path, method, op))
    sections = "".join(
        f'<h2 id="tag-{escape(tag)}">{escape(tag)}</h2>{"".join(ops)}'
        for tag, ops in by_tag.items()
    )
    schemas = "".join(
        f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>{_pre(schema)}'
        for name, schema in spec["components"]["schemas"].items()
    )
    codes = "".join(
        f"<tr><td>{int(c)}</td><td>{i.http_status}</td><td>{escape(c.name)}</td>"
        f"<td>{escape(i.message)}</td></tr>"
        for c, i in sorted(CATALOGUE.items())
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(info['title'])} API</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(info['title'])} <small>{escape(info['version'])}</small></h1>"
        f"<p>{escape(info['description'])}</p>"
        '<p>Machine-readable: <a href="/api/public/v1/openapi.json">openapi.json</a> · '
        'for agents: <a href="/llms.txt">llms.txt</a></p>'
        f"<h2>The envelope</h2>{_pre(_ENVELOPE_EXAMPLE)}{sections}"
        "<h2>Codes</h2><table><tr><th>code</th><th>HTTP</th><th>name</th><th>message</th></tr>"
        f"{codes}</table><h2>Schemas</h2>{schemas}</body></html>"
    )
