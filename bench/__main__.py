"""``make bench``: every benchmark, each figure beside its same-run baseline.

Every suite runs, whatever an earlier one came to: a suite that raises is printed (its
traceback) and reported as a row that missed, and the rest go on. Every row is printed; the
exit status is 1 if any row missed its target (requests that failed, a suite that did not
finish), else 0. A run stopped by SIGTERM (``timeout``, a supervisor) ends as an interrupted
one does: every suite's servers, databases and roles are put away on the way out, as a finished
suite puts them away, rather than left running for the next run to trip on, and the figures of
the suites that finished before it are printed."""

import importlib
import os
import sys
import traceback

from .report import Row, missed, print_rows
from .stopping import unwind_on_sigterm

SUITES = [
    "bench.topup",
    "bench.policy",
    "bench.approval",
    "bench.payments",
    "bench.deliveries",
    "bench.destinations",
    "bench.mcp",
    "bench.fulfilment",
    "bench.idle",
    "bench.history",
    "bench.retention",
    "bench.instructions",
    "bench.statement_cache",
    "bench.first_topup",
]


def _unfinished(name: str, exc: BaseException) -> Row:
    said = f"{type(exc).__name__}: {exc}".splitlines()[0][:120]
    return Row(f"{name}: did not finish", 1, "suite", "suites", 1, f"0 ({said})", True)


def main(suites: list[str] | None = None) -> int:
    """Each of ``suites`` in turn: ``AITOPUP_BENCH_SUITES`` (names, commas between) if set, else
    ``SUITES``, and ``bench.scale`` with ``AITOPUP_BENCH_SCALE=1``. Every row printed; 1 if
    any missed."""
    if suites is None:
        scale = ["bench.scale"] if os.environ.get("AITOPUP_BENCH_SCALE") == "1" else []
        chosen = os.environ.get("AITOPUP_BENCH_SUITES", "")
        suites = [name for name in chosen.split(",") if name] or [*SUITES, *scale]
    rows: list[Row] = []
    for name in suites:
        try:
            suite = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        print(f"running {name} …", flush=True)
        try:
            rows += suite.run()
        except Exception as exc:  # one suite's end is a figure, not the run's
            traceback.print_exc()
            rows.append(_unfinished(name, exc))
        except (KeyboardInterrupt, SystemExit):
            # Stopped (Ctrl-C, SIGTERM): the suites that finished keep their figures, printed
            # once this one's servers are put away, and the stop goes on.
            print()
            print_rows([*rows, _unfinished(name, RuntimeError("the run was stopped"))])
            raise
    print()
    print_rows(rows)
    failed = missed(rows)
    if failed:
        print(
            f"\n{len(failed)} figure(s) missed a target they must meet: "
            + "; ".join(row.name for row in failed)
        )
    return 1 if failed else 0


if __name__ == "__main__":
    unwind_on_sigterm()
    sys.exit(main())
