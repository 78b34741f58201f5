"""One way to run a service: components as async context managers in one AsyncExitStack, closed
in reverse when a later one fails to start, and the failure reaching the user as one sentence;
"wait for X or stop"; tasks for the life of a block; and cancel_and_wait, which ends a task even
when one cancellation is lost on the way, as asyncio.wait_for on Python 3.11 and nats-py's flush
lose it."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest

from stratos.common.errors import Unavailable
from stratos.common.lifecycle import (
    Component,
    background,
    cancel_and_wait,
    first_or_stop,
    run_service,
)


class Part(Component):
    """A component that takes two things in start (a subscription, then a task) and records what
    it did; `fail_after_first` makes its start fail halfway, with only the first taken."""

    def __init__(self, name: str, events: list[str], *, fail_after_first: bool = False) -> None:
        self.name, self.events, self.fail_after_first = name, events, fail_after_first
        self.held: list[str] = []

    async def start(self) -> None:
        self.held.append("subscription")
        await asyncio.sleep(0)
        if self.fail_after_first:
            raise Unavailable(f"NATS at nats://nowhere cannot hold the {self.name} bucket")
        self.held.append("task")
        self.events.append(f"started {self.name}")

    async def stop(self) -> None:
        self.events.append(f"stopped {self.name} holding {'+'.join(self.held) or 'nothing'}")
        self.held.clear()


@pytest.fixture
def keep_umask():
    """run_service sets the process umask, as a service must; the test process gets its own back."""
    was = os.umask(0o022)
    os.umask(was)
    yield
    os.umask(was)


def test_a_service_whose_third_component_fails_to_start_closes_the_first_two_and_exits_2(
    keep_umask, capsys
) -> None:
    events: list[str] = []

    async def serve(stop: asyncio.Event) -> None:
        async with contextlib.AsyncExitStack() as stack:
            for part in (Part("feed", events), Part("drains", events)):
                await stack.enter_async_context(part)
            await stack.enter_async_context(Part("repair", events, fail_after_first=True))
            events.append("serving")
            await stop.wait()

    assert run_service(serve) == 2
    assert events == [
        "started feed",
        "started drains",
        "stopped repair holding subscription",
        "stopped drains holding subscription+task",
        "stopped feed holding subscription+task",
    ]
    err = capsys.readouterr().err
    assert err == "error: NATS at nats://nowhere cannot hold the repair bucket\n"


async def test_a_component_whose_start_is_cancelled_releases_what_it_took() -> None:
    events: list[str] = []

    class Slow(Part):
        async def start(self) -> None:
            self.held.append("subscription")
            await asyncio.Event().wait()  # SIGTERM comes while it waits for its stream

    entering = asyncio.ensure_future(Slow("feed", events).__aenter__())
    await asyncio.sleep(0)
    await cancel_and_wait(entering)
    assert events == ["stopped feed holding subscription"]


async def test_leaving_the_block_stops_a_component() -> None:
    events: list[str] = []
    async with Part("feed", events) as feed:
        assert feed.held == ["subscription", "task"]
    assert events == ["started feed", "stopped feed holding subscription+task"]


async def test_first_or_stop_returns_what_comes_first() -> None:
    stop = asyncio.Event()
    assert await first_or_stop(asyncio.sleep(0, "connected"), stop) == "connected"

    async def never() -> str:
        await asyncio.Event().wait()
        return "connected"

    waiting = asyncio.ensure_future(first_or_stop(never(), stop))
    await asyncio.sleep(0)
    stop.set()
    assert await asyncio.wait_for(waiting, 10) is None


async def test_first_or_stop_raises_an_error_that_comes_before_stop() -> None:
    async def refused() -> None:
        raise Unavailable("cannot connect to NATS at nats://nowhere")

    with pytest.raises(Unavailable, match="cannot connect"):
        await first_or_stop(refused(), asyncio.Event())


async def test_first_or_stop_keeps_a_result_delivered_while_it_was_cancelled() -> None:
    """A connection that lands as SIGTERM comes is returned, so the caller's stack closes it."""
    stop, cancelled = asyncio.Event(), asyncio.Event()

    async def connecting() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
        return "connection"

    waiting = asyncio.ensure_future(first_or_stop(connecting(), stop))
    await asyncio.sleep(0)
    stop.set()
    assert await asyncio.wait_for(waiting, 10) == "connection"
    assert cancelled.is_set()


async def test_first_or_stop_drops_an_error_raised_while_it_was_cancelled() -> None:
    stop = asyncio.Event()

    async def connecting() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise Unavailable("cannot connect") from None

    waiting = asyncio.ensure_future(first_or_stop(connecting(), stop))
    await asyncio.sleep(0)
    stop.set()
    assert await asyncio.wait_for(waiting, 10) is None


async def test_a_background_task_is_cancelled_when_the_block_is_left() -> None:
    async with background(asyncio.Event().wait(), name="watch") as task:
        await asyncio.sleep(0)
    assert task.cancelled()


async def test_a_background_task_given_stop_is_told_to_end_and_finishes_its_work() -> None:
    """Leaving the block (here: a later component failed to start) sets stop; the task is not
    cancelled but lets its running job finish, as the repair worker does."""
    stop, finished = asyncio.Event(), []

    async def worker() -> None:
        await stop.wait()
        await asyncio.sleep(0)  # the running job finishes
        finished.append("job")

    with pytest.raises(Unavailable):
        async with background(worker(), name="repairs", stop=stop) as task:
            raise Unavailable("a later component cannot start")
    assert stop.is_set() and finished == ["job"] and not task.cancelled()


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
