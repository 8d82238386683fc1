"""What meets holds whatever their kind imports no kind's module: it asks the registry
(``holds.registry``), whose ``_BUILT_IN`` is the one place the kinds are named. A made-up
kind (``test_third_hold.py``) goes through all of them with no change to any."""

import ast
from pathlib import Path

import pytest

from gateway.holds import registry
from gateway.store.held import closings
from tests.fixtures.payout_hold import PAYOUTS, PayoutHold

ROOT = Path(__file__).resolve().parents[3]
# A kind's own wing: what imports from here names a kind.
KINDS = ("gateway.topup", "gateway.sellers")
# Module → why it may still import from a kind's wing (each checked to be still needed).
EXCEPTIONS = {
    "gateway/freezes/service.py": "the kill switch also ends the payments' authorized "
    "credentials (``authorizing.end_soon``), which are no hold",
}
KIND_FREE = [
    "gateway/approvals/held.py",
    "gateway/approvals/links.py",
    "gateway/holds/doors.py",
    "gateway/dashboard/approval_link.py",
    "gateway/api/telegram.py",
    "gateway/freezes/service.py",
    "worker/expiry.py",
]


def _kinds_imported(path: Path) -> list[str]:
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = node.module or ""
        if node.level:
            package = module.split(".")[: -node.level]
            base = ".".join([*package, *([node.module] if node.module else [])])
        names = [f"{base}.{alias.name}" for alias in node.names]
        found += [n for n in names if n.startswith(tuple(f"{k}." for k in KINDS))]
    return found


@pytest.mark.parametrize("place", KIND_FREE)
def test_what_meets_every_hold_imports_no_kind(place: str) -> None:
    found = _kinds_imported(ROOT / place)
    if place in EXCEPTIONS:
        assert found, f"{place} no longer imports a kind: drop it from EXCEPTIONS"
        assert not [n for n in found if n.rpartition(".")[2] in ("approvals", "hold", "doors")]
        return
    assert not found, f"{place} names a kind of hold: {found}; ask holds.registry"


def test_the_registry_is_the_one_place_the_kinds_are_named() -> None:
    found = _kinds_imported(ROOT / "gateway/holds/registry.py")
    assert sorted(found) == ["gateway.sellers.hold.PAYMENTS", "gateway.topup.hold.SENDS"]


def test_what_closes_holds_with_their_key_is_each_registered_kinds_closing() -> None:
    """A key's end closes every kind's holds (``merchants.holds``) by the closings the registry
    keeps, one a kind, a made-up one's too while it is registered, and names no kind's table."""

    def tables() -> list[str]:
        return sorted(closing.table.name for closing in closings())

    assert tables() == sorted(hold.closing.table.name for hold in registry.holds())
    with registry.registered(PayoutHold()):
        assert tables() == sorted(hold.closing.table.name for hold in registry.holds())
        assert PAYOUTS.name in tables()
    assert PAYOUTS.name not in tables()
    assert _kinds_imported(ROOT / "gateway/merchants/holds.py") == []
