"""Stopping background tasks: cancel_and_wait ends a task even when one cancellation is lost on
the way, as asyncio.wait_for on Python 3.11 and nats-py's flush lose it."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from stratos.common.lifecycle import cancel_and_wait


async def _polling(waiting) -> tuple[asyncio.Task, list[asyncio.Future]]:
    """A background task making one request after another, as the repair loop does; returns it
    with the replies it waits for (the last one pending)."""
    calls: list[asyncio.Future] = []

    async def polling() -> None:
        while True:
            reply = asyncio.get_running_loop().create_future()
            calls.append(reply)
            await waiting(reply)

    task = asyncio.create_task(polling(), name="polling")
    while not calls:
        await asyncio.sleep(0)
    return task, calls


async def _wait_for_reply(reply: asyncio.Future) -> None:
    await asyncio.wait_for(reply, 10)  # how nats-py waits for every reply


async def _flush_quietly(reply: asyncio.Future) -> None:
    with contextlib.suppress(asyncio.CancelledError):  # as nats-py's _flush_pending does
        await reply
    await asyncio.get_running_loop().create_future()  # then the request waits for its reply


@pytest.mark.parametrize(
    ("waiting", "reply_lands"),
    [(_wait_for_reply, True), (_flush_quietly, False)],
    ids=["wait_for", "flush"],
)
async def test_a_task_that_loses_one_cancellation_is_still_stopped(waiting, reply_lands) -> None:
    task, calls = await _polling(waiting)
    if reply_lands:  # in the loop iteration the stop begins in: the race of cpython#86296
        calls[-1].set_result(b"reply")
    stopping = asyncio.ensure_future(cancel_and_wait(task))
    try:
        done, _ = await asyncio.wait({stopping}, timeout=10)
        assert done, "cancel_and_wait did not return: the task ran on after its cancellation"
        assert task.cancelled()
    finally:
        for t in (stopping, task):  # never leave the test's loop with them running
            for _ in range(10):
                t.cancel()
                await asyncio.wait({t}, timeout=0.1)


async def test_a_task_that_failed_raises_its_error_and_none_entries_are_skipped() -> None:
    async def fails() -> None:
        raise ValueError("broken")

    task = asyncio.create_task(fails())
    await asyncio.wait({task})
    with pytest.raises(ValueError, match="broken"):
        await cancel_and_wait(None, task)
    await cancel_and_wait(None)
