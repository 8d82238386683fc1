"""docs/apps.md's examples hold together: its Python compiles as one program, and every path it
calls is a route of the app."""

import re
from pathlib import Path

from starlette.routing import Mount, Route

from gateway.app import create_app
from gateway.values.settings import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "apps.md"


def _paths(routes: list[object], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= _paths(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            found.add(prefix + route.path)
    return found


def test_the_python_example_compiles_and_calls_routes_that_exist(settings: Settings) -> None:
    text = DOC.read_text()
    program = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    compile(program, str(DOC), "exec")
    mounted = _paths(list(create_app(settings).routes))
    called = set(re.findall(r"\{GATEWAY\}(/[a-z0-9/._-]+)", program))
    called |= set(re.findall(r"http://127\.0\.0\.1:8000(/[a-z0-9/._-]+)", text))
    assert called >= {"/oauth/authorize", "/oauth/token", "/api/public/v1/charges", "/mcp"}
    missing = sorted(path for path in called if path not in mounted)
    assert not missing, missing
