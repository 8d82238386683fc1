"""docs/agents-that-pay.md "Paying others", as a reader runs it: the section's shell blocks, in
order, by bash, with curl and jq, against a fresh ``make run`` (its demo merchant's wallet
empty), one merchant's agent paying the other's 402 by MPP, by x402 and by a paying fetch;
every output the page shows is what its command printed; the payments turn ``used`` and the
buyer's dashboard lists them. Beside it, the quick check: every path, field and policy field
the commands use is in the OpenAPI document, and the Chinese and Japanese pages run the same
commands."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from gateway.devrun import START_SECONDS
from gateway.redis_server import RedisServer, free_port
from tests.fixtures.core import poll_until
from tests.fixtures.dashboard import csrf_of
from tests.fixtures.make_run import make_run

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
HEADING = "## Paying others"
# The placeholders a reader replaces with what ``make run`` printed.
PRINTED_KEY = "ak_staging_…"
PRINTED_ROOT = "http://127.0.0.1:8000"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_API = re.compile(r"\$GATEWAY(/api/public/v1/[\w/{}.-]+)")


def _section() -> str:
    text = (DOCS / "agents-that-pay.md").read_text()
    start = text.index(HEADING + "\n")
    end = text.find("\n## ", start + len(HEADING))
    return text[start : end if end >= 0 else None]


def _blocks(text: str, kind: str) -> list[str]:
    return [body for info, body in _FENCE.findall(text) if info == kind]


def _uncommented(line: str) -> str:
    """``line`` without its comment: from a `` #`` outside quotes."""
    for found in re.finditer(r"\s#", line):
        before = line[: found.start()]
        if before.count("'") % 2 == 0 and before.count('"') % 2 == 0:
            return before.rstrip()
    return line.rstrip()


def _commands(block: str) -> list[str]:
    """A shell block's commands, each on one line (continuations, pipes and quoted text that
    spans lines joined), without their comments."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(map(_uncommented, block.splitlines())))
    joined = re.sub(r"\|\n\s*", "| ", joined)
    commands: list[str] = []
    for line in joined.splitlines():
        if commands and commands[-1].count("'") % 2:
            commands[-1] += " " + line.strip()
        elif line.strip():
            commands.append(line.strip())
    return commands


def _programs(command: str) -> set[str]:
    """The programs ``command`` runs: each stage's first word, past its assignments (quoted
    text, a JSON body or a jq filter, left out)."""
    bare = re.sub(r'"[^"$]*"', " ", re.sub(r"'[^']*'", " ", command))
    found = set()
    for stage in re.split(r"\||\$\(|;", bare):
        words = [w for w in stage.replace(")", " ").split() if not re.match(r"^\w+=", w)]
        if words and not words[0].startswith(("-", '"', ">", "$")):
            found.add(words[0])
    return found


def _runnable() -> tuple[str, list[str]]:
    """The install line, and the blocks a reader runs after it, in order."""
    install, *rest = _blocks(_section(), "sh")
    return install, rest


# --- The quick check: the commands against the OpenAPI document.


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its references followed, and a union's object member taken."""
    while True:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = spec["components"]["schemas"][name]
        elif "anyOf" in schema or "oneOf" in schema:
            members = schema.get("anyOf") or schema["oneOf"]
            schema = next(m for m in members if m.get("type") != "null")
        else:
            return schema


def _fields(spec: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    return set(_resolve(spec, schema).get("properties", {}))


def _data(spec: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    """The schema of ``data`` in the envelope ``path`` answers with ``status``."""
    reply = spec["paths"][path][method]["responses"][status]
    if "$ref" in reply:
        reply = spec["components"]["responses"][reply["$ref"].rsplit("/", 1)[1]]
    envelope = _resolve(spec, reply["content"]["application/json"]["schema"])
    if "allOf" in envelope:
        parts = [_resolve(spec, part) for part in envelope["allOf"]]
        envelope = {"properties": {k: v for p in parts for k, v in p.get("properties", {}).items()}}
    return _resolve(spec, envelope["properties"]["data"])


async def test_the_commands_paths_and_fields_are_the_apis(ops_client: httpx.AsyncClient) -> None:
    spec = (await ops_client.get("/api/public/v1/openapi.json")).json()
    install, blocks = _runnable()
    commands = [c for block in blocks for c in _commands(block)]
    # Every client the commands call is on the install line (the gateway's CLI is the
    # checkout's, the rest the shell's own).
    called = set().union(*(_programs(c) for c in commands))
    assert called == {"curl", "jq", ".venv/bin/aitopup", "head", "grep", "cut", "tr", "tail"}
    assert {"curl", "jq"} <= set(install.split()), install

    used: set[tuple[str, str]] = set()
    for command in commands:
        for path in _API.findall(command):
            method = "post" if " -d " in f" {command} " else "get"
            assert method in spec["paths"].get(path, {}), (method, path)
            used.add((method, path))
    assert used == {
        ("post", "/api/public/v1/topup/send"),
        ("post", "/api/public/v1/payments"),
        ("post", "/api/public/v1/payments/fetch"),
        ("get", "/api/public/v1/payments"),
        ("get", "/api/public/v1/keys/self"),
    }
    pay = spec["paths"]["/api/public/v1/payments"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in pay.get("parameters", [])), pay
    sent = _fields(spec, pay["requestBody"]["content"]["application/json"]["schema"])
    made = _fields(spec, _data(spec, "/api/public/v1/payments", "post", "201"))
    listed = _resolve(spec, _data(spec, "/api/public/v1/payments", "get", "200"))
    read = _fields(spec, listed["items"])
    own = _resolve(spec, _data(spec, "/api/public/v1/keys/self", "get", "200"))
    left = _fields(spec, _resolve(spec, own["properties"]["payees"])["items"])
    for command in commands:
        for body in re.findall(r"jq -n .*?'(\{.*?\})'", command):
            if "challenge" in body:
                assert set(re.findall(r"[{,]\s*(\w+):", body)) <= sent, body
        for shown in re.findall(r"\(\.data \| (\{.*?\})\)", command):
            assert set(re.findall(r"\w+", shown)) <= made, shown
        for shown in re.findall(r"'\.data\[\] \| (\{.*?\})'", command):
            assert set(re.findall(r"\w+", shown)) <= read, shown
        for shown in re.findall(r"'\.data\.payees\[\] \| (\{.*?\})'", command):
            assert set(re.findall(r"\w+", shown)) <= left, shown
        if ".data.header" in command:
            assert {"header", "value"} <= made
            assert "value" not in read  # shown once: never read back

    # The policy the key is made with, and the page's example, hold the policy's own fields.
    policy = spec["components"]["schemas"]["Policy"]
    limit = _fields(spec, policy["properties"]["per_payee_limit"])
    [example] = [json.loads(b) for b in _blocks(_section(), "json")]
    assert set(example) <= set(policy["properties"]), example
    assert set(example["per_payee_limit"]) == {"amount_cents", "interval"} <= limit
    made_with = next(c for c in commands if c.startswith("POLICY="))
    assert set(re.findall(r"[{,]\s*(\w+):", made_with)) <= set(policy["properties"]) | limit
    assert "payments:send" in policy["properties"]["scopes"]["items"]["enum"]


@pytest.mark.parametrize("language", ["zh", "ja"])
def test_the_translations_run_the_same_commands(language: str) -> None:
    """The same commands in the same order; a comment may be in the page's language."""
    translated = [
        _commands(b) for b in _blocks((DOCS / language / "agents-that-pay.md").read_text(), "sh")
    ]
    install, blocks = _runnable()
    at = translated.index(_commands(install))
    assert translated[at + 1 : at + 1 + len(blocks)] == [_commands(b) for b in blocks]


# --- The exchange itself, against ``make run``.


def _printed_key(proc: "subprocess.Popen[str]") -> tuple[str, str]:
    """The gateway's root and the staging key ``make run`` printed, once it printed them."""
    assert proc.stdout is not None
    printed: list[str] = []
    deadline = time.monotonic() + START_SECONDS + 60
    while not any(line.startswith("staging key") for line in printed):
        assert time.monotonic() < deadline and proc.poll() is None, printed
        printed.append(proc.stdout.readline().strip())
    [root] = [line.rsplit(" ", 1)[1] for line in printed if line.startswith("aiTopUp gateway: ")]
    return root.removesuffix("/api/public/v1"), printed[-1].rsplit(" ", 1)[-1]


def _shell(script: str, cwd: Path, env: dict[str, str]) -> list[str]:
    ran = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ran.returncode == 0, (ran.stdout, ran.stderr)
    return ran.stdout.splitlines()


def _printed_as_shown(shown: list[str], printed: list[str]) -> None:
    """Each line a ``text`` block shows was printed, in the page's order (``…`` stands for
    what differs from run to run)."""
    at = 0
    for line in shown:
        pattern = re.compile(".*?".join(re.escape(part) for part in line.split("…")))
        while at < len(printed) and not pattern.fullmatch(printed[at]):
            at += 1
        assert at < len(printed), (line, printed)
        at += 1


def _reader_env(home: Path, redis: RedisServer, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "AITOPUP_REDIS_URL": redis.url,
        "AITOPUP_LOG_LEVEL": "WARNING",
        # The children import the code under test, wherever the test runner found it.
        **{name: os.environ[name] for name in ("PYTHONPATH",) if name in os.environ},
        **extra,
    }


@pytest.fixture
def checkout(tmp_path: Path) -> Iterator[Path]:
    """A folder that is a checkout to a reader: ``.venv/bin/aitopup`` is this one's."""
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    assert (tmp_path / ".venv" / "bin" / "aitopup").exists()
    yield tmp_path


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl and jq")
def test_one_merchant_pays_anothers_402_as_the_page_says(
    checkout: Path, private_redis: RedisServer
) -> None:
    _, blocks = _runnable()
    *exchange, listing, invite = blocks
    port = free_port()
    started = _reader_env(checkout, private_redis, AITOPUP_STAGING_INITIAL_BALANCE_CENTS="0")
    with make_run(checkout, started, port) as proc:
        root, key = _printed_key(proc)
        env = _reader_env(checkout, private_redis)

        def as_read(block: str) -> str:
            return block.replace(PRINTED_KEY, key).replace(PRINTED_ROOT, root)

        script = "\n".join(as_read(b) for b in exchange)
        said = 'printf "%s\\n" "$GATEWAY" "$BUYER" "$BUYER_KEY"'
        printed = _shell(f"{script}\n{said}", checkout, env)
        gateway, buyer, buyer_key = printed[-3:]
        assert gateway == root and buyer.startswith("mer_")
        headers = {"Authorization": f"Bearer {buyer_key}"}

        def all_used() -> bool:
            listed = httpx.get(f"{root}/api/public/v1/payments", headers=headers, timeout=10)
            return [p["status"] for p in listed.json()["data"]] == ["used"] * 3

        # The worker's first look at each is 15 s after its authorization.
        poll_until(all_used, within=90)
        kept = f"GATEWAY={gateway}\nBUYER={buyer}\nBUYER_KEY={buyer_key}\n"
        printed += _shell(kept + listing + invite, checkout, env)
        shown = [line for b in _blocks(_section(), "text") for line in b.splitlines()]
        _printed_as_shown(shown, printed)

        # The link the invitation printed opens the buyer's dashboard: the three payments, and
        # what the seller's Stripe profile (where the MPP payment went) was paid today with
        # what the key may still pay it.
        [link] = [line for line in printed if "/dashboard/set-password?token=" in line]
        page = _payments_page(link)
        assert page.count('data-status="used"') == 3, page
        seller = re.search(r'<tr data-payee="mpp:profile_aitopup">.*?</tr>', page, re.S)
        assert seller is not None, page
        assert "$18.00" in seller.group() and "$22.00 left of $40.00 daily" in seller.group()


def _payments_page(link: str) -> str:
    """The Payments page, signed in through the invitation's one-time link."""
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        form = browser.get(link)
        assert form.status_code == 200, form.text
        action = re.search(r'<form[^>]*action="([^"]+)"', form.text)
        assert action is not None
        posted = browser.post(
            urljoin(link, action.group(1)),
            data={
                "csrf_token": csrf_of(form.text),
                "token": parse_qs(urlsplit(link).query)["token"][0],
                "password": "a buyer's password 0123",
            },
        )
        assert posted.status_code == 303, posted.text
        page = browser.get(urljoin(link, "/dashboard/payments"))
        assert page.status_code == 200, page.text
        return page.text
