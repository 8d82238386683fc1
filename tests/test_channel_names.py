"""The domain never names a payment channel: a channel's name is written in its provider's
module and in the registry (``gateway/billing/channels/registry.py``) and nowhere else in
``gateway/``, so what differs between channels is a provider's attribute or method, and a new
channel is one module and a registry line. Anything else that needs a channel's name takes it
from the registry (``registry.STRIPE``, ``registry.default``...)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = {"stripe", "sandbox", "creem", "myfatoorah", "epay"}
# Where a channel's name may be written: its provider and the registry, and its wire protocol.
# The agents' payment providers and x402's protocol are channels too, kept in their own folders.
OWNERS = (
    "gateway/billing/channels/registry.py",
    "gateway/billing/channels/providers/",
    "gateway/billing/channels/protocols/",
    "gateway/billing/providers/",
    "gateway/billing/protocols/",
)
# Where the same word is not a channel's name, or is history; each with why.
ALLOWED = {
    # Migrations are history: what a table held when they ran.
    "gateway/migrations/": "the data a migration moves names the channel it belonged to",
    # The Content-Security-Policy directive ``sandbox``, not the staging channel.
    "gateway/security_headers.py": "the CSP directive sandbox",
    # The documented example of ``order.paid``: a document that must not change.
    "gateway/webhooks/event_types.py": "the example payload of order.paid in the docs",
}


def literals(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant in ``tree`` that is a channel's name, with its line (a title,
    "Stripe", is what a person reads, not a name the code tests)."""
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in CHANNELS
    ]


def test_no_channel_is_named_outside_its_provider_and_the_registry() -> None:
    found: list[str] = []
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        place = path.relative_to(ROOT).as_posix()
        if place.startswith(OWNERS) or any(place.startswith(a) for a in ALLOWED):
            continue
        tree = ast.parse(path.read_text(), place)
        found += [f"{place}:{line}: {value!r}" for line, value in literals(tree)]
    assert not found, "\n".join(found)


def test_the_guard_finds_a_channel_named_in_a_string() -> None:
    tree = ast.parse('x = "stripe"\nif p in ("epay", "Sandbox"): pass\ny = "a stripe"\n')
    assert sorted(literals(tree)) == [(1, "stripe"), (2, "epay")]
