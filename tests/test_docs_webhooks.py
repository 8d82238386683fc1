"""docs/webhooks.md's "Receiving webhooks" holds: its Python snippets, run as written, verify a
real delivery signed by a worker during a rotation's overlap (two signatures of each kind) with
either secret or either public key and refuse a tampered body; its shell snippet, run with bash
and openssl, verifies both schemes too."""

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Received, Receiver, make_endpoint, only_delivery
from tests.fixtures.workers import StartWorker

DOC = Path(__file__).resolve().parent.parent / "docs" / "webhooks.md"
SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "docs@example.com"}


def _section() -> str:
    text = DOC.read_text()
    start = text.index("## Receiving webhooks")
    return text[start : text.index("\n## ", start + 1)]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(), re.S)


def _run(snippet: str, **names: Any) -> dict[str, Any]:
    namespace: dict[str, Any] = dict(names)
    exec(compile(snippet, str(DOC), "exec"), namespace)  # noqa: S102  (the docs' own code)
    return namespace


async def _rotated_delivery(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, receiver: Receiver
) -> tuple[Received, list[str], list[str]]:
    """A delivery signed by both schemes during a rotation: it, the secrets, the public keys."""
    merchant = await make_merchant()
    endpoint = await make_endpoint(client, merchant, receiver.url, signing="both")
    rotated = await client.post(
        f"/webhooks/endpoints/{endpoint['id']}/rotate-secret",
        json={"overlap_seconds": 3600},
        headers=merchant.headers,
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["data"]
    await client.post("/topup/send", json=SEND, headers=merchant.headers)
    request = await only_delivery(receiver)
    assert len(request.headers["webhook-signature"].split(" ")) == 4  # two v1, two v1a
    return (
        request,
        [endpoint["secret"], new["secret"]],
        [endpoint["public_key"], new["public_key"]],
    )


async def test_the_docs_python_verifies_a_real_delivery_across_a_rotation(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    tmp_path: Path,
) -> None:
    await start_worker()
    request, secrets, public_keys = await _rotated_delivery(hook_client, make_merchant, receiver)
    library, by_hand, v1a = _blocks("python")
    tampered = request.body.replace(b"docs@", b"evil@")
    for secret in secrets:
        payload = _run(
            library.replace("whsec_…", secret),
            request_body_bytes=request.body,
            request_headers=request.headers,
        )["payload"]
        assert payload["type"] == "topup.delivered"
        verify = _run(by_hand)["verify"]
        verify(secret, request.headers["x-aitopup-signature"], request.body)
        with pytest.raises(ValueError, match="bad signature"):
            verify(secret, request.headers["x-aitopup-signature"], tampered)
    verify_v1a = _run(v1a)["verify_v1a"]
    for public_key in public_keys:
        verify_v1a(public_key, request.headers, request.body)
        with pytest.raises(ValueError, match="bad signature"):
            verify_v1a(public_key, request.headers, tampered)

    if shutil.which("openssl") is None:
        pytest.skip("the shell snippet needs openssl")
    shell = _blocks("sh")[1]
    for secret, public_key in zip(secrets, public_keys, strict=True):
        for body, verdict in ((request.body, "verified"), (tampered, "refused")):
            out = await _shell(tmp_path, shell, request, body, secret, public_key)
            assert f"v1 {verdict}" in out, out
            assert ("Signature Verified Successfully" in out) == (verdict == "verified"), out


async def _shell(
    folder: Path, script: str, request: Received, body: bytes, secret: str, public_key: str
) -> str:
    """The snippet run by bash in ``folder``, with the files and variables the docs name."""
    await asyncio.to_thread((folder / "body.json").write_bytes, body)
    env = {
        "PATH": "/usr/bin:/bin",
        "ID": request.headers["webhook-id"],
        "TS": request.headers["webhook-timestamp"],
        "SIGS": request.headers["webhook-signature"],
        "SECRET": secret,
        "PUBLIC": public_key,
    }
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script,
        cwd=folder,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return out.decode()
