"""The collector around a process's start (``gateway.ops.collector``)."""

import gc

import pytest

from gateway.ops import collector


def test_held_is_off_for_its_block_and_on_after_it_however_it_ends() -> None:
    with collector.held():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector.held():
        raise RuntimeError("a start that failed")
    assert gc.isenabled()


def test_started_turns_it_on_inside_the_hold_with_what_was_made_frozen() -> None:
    frozen = gc.get_freeze_count()
    with collector.held():
        made = [[n] for n in range(1_000)]  # containers the collector tracks
        collector.started()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(made)
