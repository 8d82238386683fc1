"""The instruction counter of ``make bench``: a count between two points of a program run under
callgrind, which grows with the work done between them and not with what came before."""

import asyncio
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from bench.instructions import count_between, dumped_total, warnings_in

needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None or shutil.which("callgrind_control") is None,
    reason="valgrind is not installed: apt-get install valgrind",
)

_LOOP = textwrap.dedent(
    """
    import sys
    warm = sum(range(int(sys.argv[1])))  # before "ready": never counted
    print("ready", flush=True); sys.stdin.readline()
    total = 0
    for i in range(int(sys.argv[2])):
        total += i * i
    print("done", flush=True); sys.stdin.readline()
    """
)


def test_a_dump_is_read_by_its_summary() -> None:
    dump = "version: 1\ncmd: python\nevents: Ir\nsummary: 115759136\ntotals: 116362388\n"
    assert dumped_total(dump) == 115_759_136
    assert dumped_total("events: Ir\ntotals: 42\n") == 42
    with pytest.raises(ValueError):
        dumped_total("events: Ir\n")


def test_a_warning_logged_is_found_among_the_counted_lines() -> None:
    lines = [
        '{"ts":"2026-01-01T00:00:00.000Z","level":"info","logger":"gateway.access","msg":"POST"}\n',
        "a line of the program's own\n",
        '{"level":"warning","logger":"gateway.outbox","msg":"wake not published"}\n',
        '{"level":"error","logger":"gateway.store","msg":"gone"}\n',
        "[1, 2]\n",
    ]
    assert warnings_in(lines) == ["gateway.outbox: wake not published", "gateway.store: gone"]
    assert warnings_in(lines[:2]) == []


@needs_valgrind
def test_a_count_whose_process_warned_between_the_marks_is_refused(tmp_path: Path) -> None:
    """A warning before ``ready`` (the warm-up) is not counted and refuses nothing; one between
    the marks (a Redis call past its bound, say) does: such a count is of the failure's path."""
    program = tmp_path / "warns.py"
    program.write_text(
        textwrap.dedent(
            """
            import json, sys
            def say(level):
                print(json.dumps({"level": level, "logger": "bench", "msg": "slow"}), flush=True)
            say("warning")
            print("ready", flush=True); sys.stdin.readline()
            say(sys.argv[1])
            print("done", flush=True); sys.stdin.readline()
            """
        )
    )
    argv = [sys.executable, "-I", "-S", str(program)]
    assert count_between([*argv, "info"], {}, tmp_path) > 0
    with pytest.raises(RuntimeError, match="bench: slow"):
        count_between([*argv, "warning"], {}, tmp_path)


@needs_valgrind
def test_the_count_grows_with_the_work_between_the_marks_alone(tmp_path: Path) -> None:
    program = tmp_path / "loop.py"
    program.write_text(_LOOP)

    def count(before: int, between: int) -> int:
        # Without ``site`` (-S, -I): the loop needs nothing of the virtualenv's, and its start,
        # counted by nobody, is most of a run under valgrind.
        argv = [sys.executable, "-I", "-S", str(program), str(before), str(between)]
        return count_between(argv, {}, tmp_path / f"{before}-{between}")

    for n in ("0-20000", "0-60000", "400000-20000"):
        (tmp_path / n).mkdir()
    small, large = count(0, 20_000), count(0, 60_000)
    # Three times the loop, about three times the count; a little more (3.52 seen), as squares
    # of the longer loop's later values pass 2**30 and take a longer int.
    assert 2.5 < large / small < 4
    # Work before "ready" is not counted: a long warm-up leaves the count as it was. Its
    # 400,000 sums are some 70 million instructions, over twice the loop's 20,000 squares
    # (some 30 million): counted, they would put the ratio past 3.
    assert 0.8 < count(400_000, 20_000) / small < 1.2


@pytest.mark.parametrize(("named", "loop_type"), [(None, "uvloop.Loop"), ("asyncio", "asyncio")])
def test_the_send_is_counted_on_the_loop_uvicorn_serves_it_on_unless_told(
    monkeypatch: pytest.MonkeyPatch, named: str | None, loop_type: str
) -> None:
    from bench.send_loop import run_counted

    if named is None:
        monkeypatch.delenv("AITOPUP_BENCH_LOOP", raising=False)
    else:
        monkeypatch.setenv("AITOPUP_BENCH_LOOP", named)
    ran_on: list[str] = []

    async def main() -> None:
        loop = type(asyncio.get_running_loop())
        ran_on.append(f"{loop.__module__}.{loop.__qualname__}")

    run_counted(main())
    assert len(ran_on) == 1 and ran_on[0].startswith(loop_type)


def test_a_loop_the_count_does_not_know_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.send_loop import run_counted

    monkeypatch.setenv("AITOPUP_BENCH_LOOP", "tokio")
    ran: list[bool] = []

    async def main() -> None:
        ran.append(True)

    with pytest.raises(ValueError, match="tokio"):
        run_counted(main())
    assert ran == []
