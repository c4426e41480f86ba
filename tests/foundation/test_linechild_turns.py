"""A child's answer reaches its caller on the next event-loop turn (the signer's and the venue
simulator's signature checker sit on every order's path).

On Python 3.11 ``asyncio.wait_for(asyncio.shield(fut))`` took three turns from the answer to the
caller. The test counts turns, not time: it fails with that code back in place. A timeout still
raises ChildDown and leaves the child's reader a done future to skip.
"""

from __future__ import annotations

import asyncio

import pytest

from shared.linechild import ChildDown, LineChild


def _child(timeout_s: float = 5.0) -> LineChild:
    return LineChild("shared.linechild_test_unused", {}, name="test", timeout_s=timeout_s)


async def test_an_answer_reaches_the_caller_on_the_next_turn() -> None:
    child = _child()
    fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(child.result(fut))
    await asyncio.sleep(0)  # the caller is waiting
    fut.set_result("0xsig")  # as the reader does on the child's line
    turns = 0
    while not task.done() and turns < 10:
        await asyncio.sleep(0)
        turns += 1
    assert task.result() == "0xsig"
    assert turns == 1


async def test_no_answer_in_time_is_child_down_and_the_future_is_left_done() -> None:
    child = _child(timeout_s=0.01)
    fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    with pytest.raises(ChildDown):
        await child.result(fut)
    assert fut.done() and child.fallbacks == 1  # the reader skips it if the answer comes late
