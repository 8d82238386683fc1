"""One verifying TLS context a process, and every outbound client of the product on it."""

import ast
import ssl
from pathlib import Path

from gateway.values.tls import verifying

ROOT = Path(__file__).resolve().parents[3]


def test_the_context_is_made_once_and_verifies_names() -> None:
    context = verifying()
    assert verifying() is context
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


def test_every_outbound_client_says_how_it_verifies() -> None:
    """An ``httpx.AsyncClient`` made without ``verify=`` (the process's context) or
    ``transport=`` (the webhook transport, which verifies with it) would read the CA bundle
    again, and whatever ``SSL_CERT_FILE`` names."""
    unsaid: list[str] = []
    for package in ("gateway", "worker"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("AsyncClient", "Client")
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "httpx"
                    and not {k.arg for k in node.keywords} & {"verify", "transport"}
                ):
                    unsaid.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert unsaid == []
