"""Every module of the tables (``gateway.store.models``) says what it offers in ``__all__``: the
public names it defines, each once, and the package's face (``models/__init__.py``) offers
every one of them."""

import ast
from pathlib import Path

import pytest

import gateway.store.models as models

HERE = Path(models.__file__).parent
MODULES = sorted(p for p in HERE.glob("*.py") if p.name != "__init__.py")


def _defined(path: Path) -> tuple[set[str], list[str] | None]:
    """The public names ``path`` defines at its top, and its ``__all__`` if it has one."""
    defined: set[str] = set()
    exported: list[str] | None = None
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            defined.add(node.name)
        if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Name) and target.id == "__all__":
                exported = list(ast.literal_eval(node.value))
            elif isinstance(target, ast.Name):
                defined.add(target.id)
    return {name for name in defined if not name.startswith("_")}, exported


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_a_tables_module_exports_what_it_defines(path: Path) -> None:
    defined, exported = _defined(path)
    assert exported is not None, f"{path.name} has no __all__"
    assert len(exported) == len(set(exported)), f"{path.name} names one twice in __all__"
    assert set(exported) == defined, f"{path.name}: __all__ is not what it defines"


def test_the_packages_face_offers_every_modules_names() -> None:
    offered = set(models.__all__)
    for path in MODULES:
        if path.stem == "base":  # the declarative base: the face offers what tables need of it
            continue
        _, exported = _defined(path)
        missing = set(exported or []) - offered
        assert not missing, f"models/__init__.py does not offer {sorted(missing)} of {path.name}"
