"""``/llms.txt``'s snippets run as an agent pastes them: the curl example with ``BASE`` and
``KEY`` set as it says, and the stdio MCP configuration started exactly as written, with only its
two placeholders filled in."""

import ast
import json
import os
import sys
import textwrap
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from gateway.mcp.tools import SendTopupArguments
from gateway.ops.mcp_clients import STDIO_DIR
from gateway.values.settings import Settings
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET, local_client
from tests.fixtures.merchants import MakeMerchant


async def _guide(live_url: str) -> list[str]:
    root = live_url.removesuffix("/api/public/v1")
    async with local_client() as http:
        reply = await http.get(f"{root}/llms.txt")
    assert reply.status_code == 200
    return reply.text.splitlines()


async def test_the_curl_example_sends_as_pasted(live_url: str, make_merchant: MakeMerchant) -> None:
    lines = await _guide(live_url)
    start = next(n for n, line in enumerate(lines) if line.lstrip().startswith("curl "))
    end = next(n for n in range(start, len(lines)) if not lines[n].endswith("\\"))
    example = "\n".join(lines[start : end + 1])

    merchant = await make_merchant()
    env = {"PATH": os.environ.get("PATH", ""), "KEY": merchant.key}
    env["BASE"] = live_url.removesuffix("/api/public/v1")
    ran = await anyio.run_process(["sh", "-c", example], env=env, check=False)
    assert ran.returncode == 0, ran.stderr
    reply = json.loads(ran.stdout)
    assert (reply["code"], reply["status"]) == (1001, "delivered"), reply


async def test_the_python_example_sends_as_pasted(
    live_url: str, make_merchant: MakeMerchant
) -> None:
    lines = await _guide(live_url)
    start = lines.index("  import os, httpx")
    end = next(n for n in range(start, len(lines)) if not lines[n].startswith("  "))
    example = textwrap.dedent("\n".join(lines[start:end]))
    merchant = await make_merchant()
    env = {"PATH": os.environ.get("PATH", ""), "KEY": merchant.key}
    env["BASE"] = live_url.removesuffix("/api/public/v1")
    ran = await anyio.run_process([sys.executable, "-c", example], env=env, check=False)
    assert ran.returncode == 0, ran.stderr
    reply = ast.literal_eval(ran.stdout.decode())
    assert (reply["code"], reply["status"]) == (1001, "delivered"), reply


@pytest.mark.parametrize("client", ["Claude Code", "Claude Desktop", "Cursor"])
async def test_each_stdio_configuration_starts_as_written(
    live_url: str, settings: Settings, make_merchant: MakeMerchant, tmp_path: Path, client: str
) -> None:
    lines = await _guide(live_url)
    heading = lines.index(next(line for line in lines if line.startswith(f"{client}, stdio, in")))
    server = json.loads(lines[heading + 1])["mcpServers"]["aitopup"]
    assert server["env"]["AITOPUP_DIR"] == STDIO_DIR
    # Every client's HTTP configuration names the same endpoint and header.
    http = json.loads(
        lines[lines.index(next(x for x in lines if x.startswith(f"{client}, http"))) + 1]
    )
    assert "$BASE/mcp" in json.dumps(http)

    # The gateway's folder as `make run` leaves it: its .env, and the project's .venv.
    folder = tmp_path / "gateway"
    folder.mkdir()
    (folder / ".venv").symlink_to(Path(sys.prefix))
    (folder / ".env").write_text(
        f"AITOPUP_DATABASE_URL={settings.database_url}\n"
        f"AITOPUP_REDIS_URL={settings.redis_url}\n"
        f"AITOPUP_KEY_PEPPER={TEST_PEPPER}\n"
        f"AITOPUP_SECRET_KEY={TEST_SECRET}\n"
        "AITOPUP_LOG_LEVEL=WARNING\n"
    )
    merchant = await make_merchant()
    env = {**server["env"], "AITOPUP_DIR": str(folder), "AITOPUP_API_KEY": merchant.key}
    params = StdioServerParameters(command=server["command"], args=server["args"], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert tools["send_topup"].input_schema == SendTopupArguments.model_json_schema()
        balance = await session.call_tool("get_balance", {})
        assert balance.is_error is False
        assert balance.structured_content is not None
        assert balance.structured_content["code"] == 1000
