"""Dependencies point one way: keys ← gateway ← worker; keys does no I/O."""

import ast
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
