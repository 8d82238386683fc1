"""A job of many attempts runs each on its own, and fails only once all have ended."""

import asyncio

import pytest

from worker.batch import each_at_once


async def test_each_attempt_is_counted_by_its_state() -> None:
    async def ended(state: str | None) -> str | None:
        return state

    states = ["sent", "sent", None, "failed"]
    assert await each_at_once(ended(s) for s in states) == {
        "sent": 2,
        "skipped": 1,
        "failed": 1,
    }


async def test_a_failure_is_raised_once_every_other_attempt_has_ended() -> None:
    finished: list[int] = []

    async def fails() -> str:
        raise RuntimeError("first")

    async def slower(n: int) -> str:
        await asyncio.sleep(0)  # one scheduling step: still running when the failure is raised
        finished.append(n)
        return "sent"

    with pytest.raises(RuntimeError, match="first"):
        await each_at_once([fails(), slower(1), slower(2)])
    assert finished == [1, 2]
