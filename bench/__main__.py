"""``make bench``: every benchmark, each figure beside its same-run baseline."""

import importlib
import os

from .report import Row, print_rows

SUITES = [
    "bench.topup",
    "bench.policy",
    "bench.approval",
    "bench.payments",
    "bench.deliveries",
    "bench.mcp",
    "bench.fulfilment",
    "bench.idle",
    "bench.history",
    "bench.instructions",
    "bench.first_topup",
]


def main() -> None:
    rows: list[Row] = []
    suites = [*SUITES, *(["bench.scale"] if os.environ.get("AITOPUP_BENCH_SCALE") == "1" else [])]
    for name in suites:
        try:
            suite = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        print(f"running {name} …", flush=True)
        rows += suite.run()
    print()
    print_rows(rows)


if __name__ == "__main__":
    main()
