"""One row of a benchmark: a measured value beside the baseline it is judged against."""

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Row", "print_rows"]


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    target: str


def print_rows(rows: Iterable[Row]) -> None:
    print(f"{'measure':<40} {'value':>12} {'baseline':>12} {'ratio':>7}  target / baseline")
    for row in rows:
        ratio = row.value / row.baseline if row.baseline else float("nan")
        print(
            f"{row.name:<40} {row.value:>9.1f} {row.unit:<3}"
            f"{row.baseline:>9.1f} {row.unit:<3}{ratio:>6.2f}x  {row.target} / {row.baseline_name}"
        )
