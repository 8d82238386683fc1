import getpass
import io
import json
import sys
import time
from typing import Any

import httpx
import pytest

from gateway.cli import main
from gateway.listen import SECRET_ENV, NoSecret, listener_app, read_secret
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


class _Stdin(io.StringIO):
    def __init__(self, text: str, *, tty: bool = False) -> None:
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_the_secret_comes_from_the_environment_first() -> None:
    secret = new_webhook_secret()
    stdin = _Stdin("whsec_not_this_one\n")
    assert read_secret({SECRET_ENV: f" {secret}\n"}, stdin) == secret
    assert stdin.tell() == 0  # standard input was left alone


def test_else_from_one_line_of_standard_input() -> None:
    secret = new_webhook_secret()
    assert read_secret({}, _Stdin(f"{secret}\nnext line\n")) == secret


def test_else_from_a_prompt_at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = new_webhook_secret()
    monkeypatch.setattr(getpass, "getpass", lambda prompt, stream: f"{secret}\n")
    assert read_secret({}, _Stdin("", tty=True)) == secret


@pytest.mark.parametrize("environ", [{}, {SECRET_ENV: "  "}])
def test_neither_is_a_clear_error(environ: dict[str, str]) -> None:
    with pytest.raises(NoSecret, match=f"no webhook secret: set {SECRET_ENV}, or pipe"):
        read_secret(environ, _Stdin("\n"))


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What ``aitopup listen`` would serve: uvicorn.run records its app instead."""
    apps: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: apps.append(app))
    monkeypatch.delenv(SECRET_ENV, raising=False)
    return apps


async def test_listen_verifies_with_the_secret_from_the_environment(
    started: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = new_webhook_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    assert main(["listen", "--port", "9999"]) == 0
    (app,) = started
    body = b'{"id": "evt_2", "type": "webhook.test", "data": {}}'
    signed = sign_headers([decode_webhook_secret(secret)], "evt_2", int(time.time()), body)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://l") as c:
        assert (await c.post("/", content=body, headers=signed)).status_code == 200


def test_listen_refuses_the_secret_on_the_command_line(
    started: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["listen", "--secret", new_webhook_secret()]) == 2
    assert started == []
    err = capsys.readouterr().err
    assert "not taken on the command line" in err
    assert SECRET_ENV in err


def test_listen_without_a_secret_says_how_to_give_one(
    started: list[Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(""))
    assert main(["listen"]) == 2
    assert started == []
    assert capsys.readouterr().err == (
        f"aitopup listen: no webhook secret: set {SECRET_ENV}, or pipe the secret on standard "
        "input\n"
    )


def test_listen_refuses_a_malformed_secret(
    started: list[Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin("not-a-secret\n"))
    assert main(["listen"]) == 2
    assert started == []
    assert "whsec_" in capsys.readouterr().err


async def test_listener_verifies_v1a_with_the_public_key_alone_or_beside_the_secret() -> None:
    from keys import decode_signing_key, new_signing_key, public_key_of

    private, secret = new_signing_key(), new_webhook_secret()
    public = public_key_of(private)
    body = json.dumps({"id": "evt_2", "type": "webhook.test", "data": {}}).encode()
    now = int(time.time())
    signed = sign_headers(
        [decode_webhook_secret(secret)], "evt_2", now, body, ed25519=[decode_signing_key(private)]
    )
    only_v1a = sign_headers([], "evt_2", now, body, ed25519=[decode_signing_key(private)])
    other = public_key_of(new_signing_key())
    cases = [
        (public, signed, 200),
        (public, only_v1a, 200),
        (f"{secret} {public}", signed, 200),
        (f"{secret} {public}", only_v1a, 400),  # the secret's scheme is missing
        (other, signed, 400),
    ]
    for given, headers, status in cases:
        out = io.StringIO()
        transport = httpx.ASGITransport(app=listener_app(given, out))
        async with httpx.AsyncClient(transport=transport, base_url="http://listener") as http:
            reply = await http.post("/hook", content=body, headers=headers)
        assert reply.status_code == status, (given[:8], status)
