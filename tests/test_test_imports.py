"""A test module's helpers are its own: what two test modules share lives in ``tests/fixtures``,
and no test module imports another (a conftest none either: ``test_layering``)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tests_imported(source: str, package: str) -> list[tuple[int, str]]:
    """Each module of tests/ that ``source`` (a module of ``package``) imports, by line: relative
    imports resolved against its package, ``from tests.x import y`` counted as ``tests.x.y``
    (``y`` may be a module)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *([base] if base else [])])
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "tests"]


def test_no_test_module_imports_another() -> None:
    """A test module's helpers are no other's: what two share lives in ``tests/fixtures``."""
    importing = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        package = ".".join(path.relative_to(ROOT).parts[:-1])
        for line, name in _tests_imported(path.read_text(), package):
            if name.split(".")[:2] != ["tests", "fixtures"]:
                importing.append(f"{path.relative_to(ROOT)}:{line} ({name})")
    assert not importing, "move these to tests/fixtures: " + ", ".join(importing)


def test_the_test_import_check_sees_every_form() -> None:
    source = (
        "from tests.gateway.test_cli import aitopup\n"
        "from .test_docs import parsed\n"
        "from . import test_other\n"
        "from ..test_cli import new_merchant\n"
        "import tests.worker.test_mail\n"
        "from tests.fixtures.cli import run_command\n"
        "import json\n"
    )
    assert [name for _, name in _tests_imported(source, "tests.gateway.ops")] == [
        "tests.gateway.test_cli.aitopup",
        "tests.gateway.ops.test_docs.parsed",
        "tests.gateway.ops.test_other",
        "tests.gateway.test_cli.new_merchant",
        "tests.worker.test_mail",
        "tests.fixtures.cli.run_command",
    ]
