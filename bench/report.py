"""One row per figure: the measurement, its same-run baseline, their ratio and the target."""

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

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")


def print_rows(rows: list[Row]) -> None:
    header = f"{'figure':<46} {'value':>12} {'baseline':>30} {'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    for row in rows:
        value = f"{row.value:,.1f} {row.unit}"
        baseline = f"{row.baseline_name} {row.baseline:,.1f}"
        print(f"{row.name:<46} {value:>12} {baseline:>30} {row.ratio:>7.2f}  {row.target}")
