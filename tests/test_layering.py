"""Dependencies point one way: keys ← gateway ← worker; keys does no I/O."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KEYS_ALLOWED = {"cryptography"}
FORBIDDEN = {
    "keys": {"gateway", "worker", "httpx", "sqlalchemy", "redis", "arq", "starlette"},
    "gateway": {"worker"},
    "worker": set(),
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    if not (ROOT / package).exists():
        pytest.skip(f"{package}/ not present")
    for path in (ROOT / package).rglob("*.py"):
        bad = _imports(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_keys_uses_only_the_stdlib_and_cryptography() -> None:
    for path in (ROOT / "keys").rglob("*.py"):
        third_party = {
            name
            for name in _imports(path)
            if name not in sys.stdlib_module_names and name != "keys"
        }
        assert third_party <= KEYS_ALLOWED, f"{path.relative_to(ROOT)} imports {third_party}"


# Only the store knows the dialect: everything else writes through plans and the three doors,
# and builds an upsert with ``compose.upsert``, never with a dialect's insert picked for it.
DIALECT_FREE = [
    "gateway/topup",
    "gateway/ledger",
    "gateway/webhooks",
    "gateway/billing",
    "gateway/admin",
    "gateway/api",
    "gateway/merchants",
    "worker/delivery.py",
    "worker/store.py",
]


@pytest.mark.parametrize("place", DIALECT_FREE)
def test_only_the_store_knows_the_dialect(place: str) -> None:
    target = ROOT / place
    paths = [target] if target.is_file() else sorted(target.rglob("*.py"))
    for path in paths:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert "is_sqlite" not in line and "dialect" not in line, (
                f"{path.relative_to(ROOT)}:{number} tests the dialect: {line.strip()}"
            )
            assert "db.insert" not in line, (
                f"{path.relative_to(ROOT)}:{number} takes the dialect's insert: {line.strip()}"
            )


# The operations and their rules know no transport: a dashboard form or an MCP tool calls them
# as the REST routes do.
TRANSPORT_FREE = [
    "gateway.topup.service",
    "gateway.ledger.service",
    "gateway.ledger.alerts",
    "gateway.idempotency",
    "gateway.callers",
    "gateway.outcome",
    "gateway.operations",
]


@pytest.mark.parametrize("module", TRANSPORT_FREE)
def test_operations_import_nothing_of_starlette(module: str) -> None:
    """In a fresh interpreter, so what the test run imported already does not count."""
    check = (
        f"import sys, {module}; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'starlette'); "
        "print(','.join(loaded))"
    )
    found = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.strip()
    assert not found, f"{module} loads {found}"
