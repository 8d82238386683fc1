"""``make bench``: every benchmark, each figure beside its same-run baseline."""

import importlib

from .report import Row, print_rows

SUITES = [
    "bench.topup",
    "bench.policy",
    "bench.approval",
    "bench.deliveries",
    "bench.mcp",
    "bench.fulfilment",
    "bench.idle",
    "bench.history",
]


def main() -> None:
    rows: list[Row] = []
    for name in SUITES:
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
