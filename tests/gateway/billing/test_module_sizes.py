"""No module of the billing wing passes 500 lines: a module that grows past it holds more than
one thing, and is split by what it holds (as ``billing.orders`` and ``billing.subscriptions``
were), each part named for its noun."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
BILLING = ROOT / "gateway" / "billing"
MOST_LINES = 500


def too_long(folder: Path, most: int = MOST_LINES) -> list[str]:
    """Every module under ``folder`` (at any depth) longer than ``most`` lines, with its count."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        count = len(path.read_text().splitlines())
        if count > most:
            found.append(f"{path.relative_to(folder.parent)}: {count} lines")
    return found


def test_no_billing_module_passes_500_lines() -> None:
    assert BILLING.is_dir()
    assert not too_long(BILLING), too_long(BILLING)


def test_the_guard_finds_a_long_module_at_any_depth(tmp_path: Path) -> None:
    (tmp_path / "inner").mkdir()
    (tmp_path / "short.py").write_text("x = 1\n" * MOST_LINES)
    (tmp_path / "inner" / "long.py").write_text("x = 1\n" * (MOST_LINES + 1))
    assert too_long(tmp_path) == [f"{tmp_path.name}/inner/long.py: {MOST_LINES + 1} lines"]
