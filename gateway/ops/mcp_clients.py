"""Ready MCP configurations for the clients agents run in (Claude Code, Claude Desktop, Cursor),
over streamable HTTP and over stdio: one definition, shown by ``/llms.txt`` and the dashboard's
Developers page, and started exactly as written by the tests (each stdio one lists the tools).

Placeholders: ``$BASE`` (this gateway's URL), ``ak_staging_…`` (the key) and ``STDIO_DIR`` (the
gateway's folder, where ``make run`` ran: ``aitopup mcp`` reads its ``.env`` and store there;
the command changes into it itself, since not every client can set a working folder). The
dashboard, shown to a merchant signed in, fills in this gateway's own folder
(``gateway_folder``); the public ``/llms.txt`` keeps the placeholder.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CLIENTS", "KEY", "STDIO_DIR", "ClientConfig", "configs", "gateway_folder"]

STDIO_DIR = "/path/to/the/gateway"
KEY = "ak_staging_…"
# The checkout this gateway runs from: the folder holding the ``gateway`` package.
_CHECKOUT = Path(__file__).resolve().parents[2]


def gateway_folder() -> str:
    """The absolute path of the checkout the gateway runs from (its ``pyproject.toml`` and
    ``.venv`` are there); installed elsewhere than a checkout, the folder it was started in."""
    if (_CHECKOUT / "pyproject.toml").is_file():
        return str(_CHECKOUT)
    return str(Path.cwd().resolve())


@dataclass(frozen=True, slots=True)
class ClientConfig:
    client: str
    transport: str  # "http" | "stdio"
    where: str  # the file it goes in
    config: dict[str, Any]

    def text(self, indent: int | None = None) -> str:
        return json.dumps(self.config, indent=indent, ensure_ascii=False)


def _stdio(key: str, folder: str, **extra: str) -> dict[str, Any]:
    return {
        **extra,
        "command": "sh",
        "args": ["-c", 'cd "$AITOPUP_DIR" && exec .venv/bin/aitopup mcp'],
        "env": {"AITOPUP_DIR": folder, "AITOPUP_API_KEY": key},
    }


def configs(base: str = "$BASE", key: str = KEY, folder: str = STDIO_DIR) -> list[ClientConfig]:
    url = f"{base}/mcp"
    auth = f"Bearer {key}"

    def servers(server: dict[str, Any]) -> dict[str, Any]:
        return {"mcpServers": {"aitopup": server}}

    return [
        ClientConfig(
            "Claude Code",
            "http",
            ".mcp.json (project) or ~/.claude.json",
            servers({"type": "http", "url": url, "headers": {"Authorization": auth}}),
        ),
        ClientConfig(
            "Claude Code", "stdio", ".mcp.json", servers(_stdio(key, folder, type="stdio"))
        ),
        ClientConfig(
            "Claude Desktop",
            "http",
            "claude_desktop_config.json (through the mcp-remote bridge, Node.js)",
            servers(
                {
                    "command": "npx",
                    "args": ["-y", "mcp-remote", url, "--header", "Authorization:${AUTH}"],
                    "env": {"AUTH": auth},
                }
            ),
        ),
        ClientConfig(
            "Claude Desktop", "stdio", "claude_desktop_config.json", servers(_stdio(key, folder))
        ),
        ClientConfig(
            "Cursor",
            "http",
            ".cursor/mcp.json or ~/.cursor/mcp.json",
            servers({"url": url, "headers": {"Authorization": auth}}),
        ),
        ClientConfig("Cursor", "stdio", ".cursor/mcp.json", servers(_stdio(key, folder))),
    ]


CLIENTS = configs()
