"""``aitopup dev newapi`` and ``aitopup dev openrouter``: each serves its stand-in in a process
of its own, with credentials of that start printed; New API's console routes let a person
register, sign in and redeem a code the admin made, once; a taken port is a clear line and
status 1."""

import socket
import subprocess

from x402.schemas.responses import SupportedResponse

from tests.fixtures.core import local_client
from tests.fixtures.preloaded import python_m
from tests.fixtures.upstreams import dev_standin

URL = "http://127.0.0.1:"


async def test_newapi_serves_its_admin_and_a_person_who_redeems_once() -> None:
    async with dev_standin("newapi", 7) as served:
        root = served.value("New API address")
        token = served.value("Admin access token")
        assert root.startswith(URL) and len(token) == 32
        admin = {"Authorization": token, "New-Api-User": served.value("Admin user id")}
        async with local_client(base_url=root) as http:
            made = await http.post(
                "/api/redemption/", json={"name": "atu-1", "count": 1, "quota": 750}, headers=admin
            )
            [code] = made.json()["data"]
            wrong = await http.post(
                "/api/redemption/",
                json={"name": "x", "count": 1, "quota": 1},
                headers={**admin, "Authorization": "0" * 32},
            )
            assert wrong.status_code == 401 and wrong.json()["success"] is False

            page = await http.get("/console/topup")
            assert page.status_code == 200 and "/api/user/topup" in page.text

            person = {"username": "ivy", "password": "ivy-secret-1"}
            assert (await http.post("/api/user/register", json=person)).json()["success"]
            signed = await http.post("/api/user/login", json=person)
            assert signed.json()["success"] is True, signed.text
            me = {"New-Api-User": str(signed.json()["data"]["id"])}
            assert (await http.get("/api/user/self", headers=me)).json()["data"]["quota"] == 0
            first = await http.post("/api/user/topup", json={"key": code}, headers=me)
            assert first.json() == {"success": True, "message": "", "data": 750}
            again = await http.post("/api/user/topup", json={"key": code}, headers=me)
            assert again.json()["success"] is False
            assert (await http.get("/api/user/self", headers=me)).json()["data"]["quota"] == 750
            found = await http.get(
                "/api/redemption/search", params={"keyword": "atu-1"}, headers=admin
            )
            assert found.json()["data"]["items"][0]["status"] == 3  # used

            # The session is the person's: another user id with it is refused.
            other = await http.get("/api/user/self", headers={"New-Api-User": "1"})
            assert other.status_code == 401
    assert served.proc.returncode is not None


async def test_openrouter_serves_its_key_management_api() -> None:
    async with dev_standin("openrouter", 4) as served:
        root = served.value("API root")
        key = served.value("Management key")
        async with local_client() as http:
            made = await http.post(
                f"{root}/keys",
                json={"name": "ivy", "limit": 5},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert made.status_code == 201 and made.json()["key"].startswith("sk-or-v1-")
            refused = await http.get(f"{root}/keys", headers={"Authorization": "Bearer nope"})
            assert refused.status_code == 401


async def test_x402_serves_a_facilitator_and_names_the_settings_staging_pays_through() -> None:
    async with dev_standin("x402", 5) as served:
        root = served.value("AITOPUP_X402_STAGING_FACILITATOR_URL=")
        assert root.startswith(URL)
        assert served.value("AITOPUP_X402_STAGING_PAY_TO=").startswith("0x")
        assert served.value("AITOPUP_X402_STAGING_RPC_URL=") == f"{root}/rpc"
        async with local_client(base_url=root) as http:
            supported = SupportedResponse.model_validate((await http.get("/supported")).json())
            assert [(k.x402_version, k.scheme, k.network) for k in supported.kinds] == [
                (2, "exact", "eip155:84532")
            ]
            unread = await http.post("/settle", json={"x402Version": 2})
            assert unread.status_code == 400
            other = await http.post("/rpc", json={"jsonrpc": "2.0", "id": 7, "method": "eth_x"})
            assert other.json() == {
                "jsonrpc": "2.0",
                "id": 7,
                "error": {"code": -32601, "message": "the method does not exist"},
            }


def test_a_taken_port_is_a_clear_line_and_status_1() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        ran = subprocess.run(
            [*python_m("gateway.cli"), "dev", "newapi", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert ran.returncode == 1
    assert ran.stdout == ""
    assert f"127.0.0.1:{port} is taken" in ran.stderr
