"""No door and no domain module names a payment protocol agents speak: a protocol's name is
written in code in its own module (``gateway/protocols/``) and nowhere else in ``gateway/``, so
what differs between protocols is a receiver's method, and a new protocol is one module and a
registry line (``gateway.protocols.registry``). Comments, docstrings and the texts a person
reads may mention one; an identifier, an import or a module's path may not."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The protocols, as a word inside an identifier or a dotted module name (``mpp_network_id``,
# ``X402Provider``, ``gateway.protocols.mpp``).
NAMED = re.compile(r"mpp|x402", re.IGNORECASE)
OWNER = "gateway/protocols/"
# Where a protocol may be named in code outside its module; each with why.
ALLOWED = {
    # The development stand-ins are the far side of a protocol (the facilitator an x402
    # payment settles at), not the gateway's side of it.
    "gateway/standins/": "the stand-in facilitator, the protocol's far side",
    # The settings' fields are the environment's variables (``AITOPUP_MPP_…``,
    # ``AITOPUP_X402_…``): a nested model would rename them.
    "gateway/values/settings.py": "fields named as the environment variables they read",
    "gateway/values/treasury_settings.py": "fields named as the environment variables they read",
    # Migrations are history: the file that added x402's column is named for it.
    "gateway/migrations/": "a migration's file, named when it ran",
}


def names(tree: ast.AST) -> list[tuple[int, str]]:
    """Every identifier, attribute and imported module in ``tree`` that names a protocol, with
    its line. String constants are not looked at: a text a person reads may say MPP."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        words: list[str] = []
        if isinstance(node, ast.Name):
            words = [node.id]
        elif isinstance(node, ast.Attribute):
            words = [node.attr]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            words = [node.name]
        elif isinstance(node, ast.arg | ast.keyword):
            words = [node.arg or ""]
        elif isinstance(node, ast.alias):
            words = [node.name, node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            words = [node.module or ""]
        found += [(getattr(node, "lineno", 0), word) for word in words if NAMED.search(word)]
    return found


def test_no_protocol_is_named_in_code_outside_its_module() -> None:
    found: list[str] = []
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        place = path.relative_to(ROOT).as_posix()
        if place.startswith(OWNER) or any(place.startswith(a) for a in ALLOWED):
            continue
        if NAMED.search(place):
            found.append(f"{place}: the module's path")
        tree = ast.parse(path.read_text(), place)
        found += [f"{place}:{line}: {word}" for line, word in names(tree)]
    assert not found, "\n".join(found)


def test_every_exception_is_still_needed() -> None:
    """An exception no module needs any more is taken out of ``ALLOWED``."""
    for allowed in ALLOWED:
        paths = [ROOT / allowed] if allowed.endswith(".py") else (ROOT / allowed).rglob("*.py")
        needed = [
            path
            for path in paths
            if NAMED.search(path.relative_to(ROOT).as_posix())
            or names(ast.parse(path.read_text(), str(path)))
        ]
        assert needed, allowed


def test_the_guard_finds_a_protocol_named_in_code_only() -> None:
    tree = ast.parse(
        "from gateway.protocols.mpp import challenges\n"
        "import x402\n"
        "y = settings.mpp_network_id\n"
        "def f(x402_offer): pass\n"
        "class X402Thing: pass\n"
        "z = 'pay with MPP or x402'\n"
        "# mpp in a comment\n"
    )
    assert sorted(names(tree)) == [
        (1, "gateway.protocols.mpp"),
        (2, "x402"),
        (3, "mpp_network_id"),
        (4, "x402_offer"),
        (5, "X402Thing"),
    ]
