"""One row per figure: the measurement, its same-run baseline, their ratio and the target."""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .load import Result
from .stopping import unwind_on_sigterm

__all__ = ["Row", "failures", "missed", "print_rows", "run_alone"]


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline: float
    target: str
    # A figure held to a target it has to meet, which it missed: requests that failed, a suite
    # that did not finish. ``make bench`` prints every row, then exits 1 if any missed.
    missed: bool = False

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")


def failures(name: str, results: Iterable[Result]) -> Row:
    """The requests that failed over every loop behind ``name``'s figures (each round's, not
    only the one a median kept), beside the requests measured and a target of 0, with what the
    failed ones answered (``bench.load.seen_in``): a failure is a figure of the run."""
    taken = list(results)
    failed = sum(result.errors for result in taken)
    seen: Counter[str] = Counter()
    for result in taken:
        seen.update(result.seen)
    target = "0"
    if seen:
        target += " (seen: " + ", ".join(f"{what} x{n}" for what, n in seen.most_common()) + ")"
    asked = sum(result.requests for result in taken)
    return Row(f"{name}: requests failed", failed, "req", "requests", asked, target, failed > 0)


def missed(rows: Iterable[Row]) -> list[Row]:
    return [row for row in rows if row.missed]


def print_rows(rows: list[Row]) -> None:
    header = f"{'figure':<46} {'value':>12} {'baseline':>30} {'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    for row in rows:
        value = f"{row.value:,.1f} {row.unit}"
        baseline = f"{row.baseline_name} {row.baseline:,.1f}"
        mark = "MISSED " if row.missed else ""
        print(f"{row.name:<46} {value:>12} {baseline:>30} {row.ratio:>7.2f}  {mark}{row.target}")


def run_alone(run: Callable[[], list[Row]]) -> None:
    """A suite run on its own (``python -m bench.topup``): its rows printed, and a SIGTERM
    unwinding it as an interrupt does (``stopping``)."""
    unwind_on_sigterm()
    print_rows(run())
