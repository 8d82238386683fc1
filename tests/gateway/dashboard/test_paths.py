"""The dashboard links by route name: no literal path of its own in its templates, scripts or
Python, and every name a template or a module gives ``path_for`` is a route's."""

import ast
import re
from pathlib import Path

from starlette.routing import Mount, Route

from gateway.dashboard import routes
from gateway.dashboard.golive import FIXES
from gateway.dashboard.paths import PREFIX, path_for

DASHBOARD = Path(__file__).resolve().parents[3] / "gateway" / "dashboard"
_NAMED = re.compile(r"""path_for\(\s*['"](\w+)['"]""")


def _route_names() -> set[str]:
    return {r.name for r in routes() if isinstance(r, Route | Mount) and r.name}


def _literals(path: Path) -> list[str]:
    """String constants of a module that are dashboard paths, docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        f"{path.name}:{node.lineno} {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith(PREFIX)
        and id(node) not in docstrings
    ]


def test_no_literal_dashboard_path_is_left() -> None:
    found = [
        f"{page.relative_to(DASHBOARD)}: {line.strip()}"
        for page in [*DASHBOARD.rglob("*.html"), *DASHBOARD.rglob("*.js")]
        for line in page.read_text().splitlines()
        if re.search(rf"""["']{PREFIX}(/|["'])""", line)
    ]
    found += [
        literal
        for module in DASHBOARD.glob("*.py")
        if module.name != "paths.py"
        for literal in _literals(module)
    ]
    assert not found, "\n".join(found)


def test_every_name_given_to_path_for_is_a_route() -> None:
    named = {
        name
        for page in [*DASHBOARD.rglob("*.html"), *DASHBOARD.glob("*.py")]
        for name in _NAMED.findall(page.read_text())
    }
    named |= {route for route, _ in FIXES.values()}
    assert named, "the scan found no path_for at all"
    assert named - _route_names() == set()


def test_a_path_is_the_routes_with_its_values() -> None:
    assert path_for("overview") == "/dashboard/"
    assert path_for("show_key", key_id="key_1") == "/dashboard/keys/key_1"
    assert path_for("static", path="/dashboard.css") == "/dashboard/static/dashboard.css"
