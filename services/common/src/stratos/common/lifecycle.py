"""Process lifecycle for every service, and the one way a service's `serve()` is written.

`run_service(serve)` is the process: SIGTERM/SIGINT set a stop event; `serve(stop)` runs until it
returns; traces are flushed; exit 0. A `StratosError` (a bad setting, an unreachable NATS, a
component that cannot start) exits 2 with its one sentence on stderr, never a traceback. What a
service writes to disk is its user's alone (PRIVATE_UMASK).

`serve(stop)` is one `contextlib.AsyncExitStack`: each component is an async context manager,
entered in start order; the body waits for `stop`; the stack closes the components in reverse
order — also when a later component fails to start, or SIGTERM comes while they start::

    async def serve(stop: asyncio.Event) -> None:
        settings = load_settings(MySettings)
        async with contextlib.AsyncExitStack() as stack:
            nc = await first_or_stop(stack.enter_async_context(nats_connection(settings)), stop)
            if nc is None:
                return  # SIGTERM before NATS answered: nothing else was started
            feed = await stack.enter_async_context(Feed(nc))  # a Component
            await stack.enter_async_context(background(feed.watch(), name="watch"))
            await stack.enter_async_context(serving(start_server(...), grace_s=...))
            await stop.wait()

The helpers here are what every service shares:
- `Component`: a base for a class with `async start()` / `async stop()`; `async with` starts it,
  stops it on exit, and stops it when its own start fails halfway (so `stop()` must be safe
  after a partial start: it releases whatever `start()` got to).
- `first_or_stop(awaitable, stop)`: "wait for X, or stop" — X's result, or None once `stop` is
  set first (X is then cancelled).
- `background(coro, name=...)`: a task for the life of a block, cancelled and awaited on exit
  (`cancel_and_wait`), or — given `stop` — told to end by `stop` and awaited.
A resource that is opened by a function rather than a class is an `@asynccontextmanager`
factory that releases it in `finally` (`grpcutil.serving`, the index's NATS connection).

Adopting it in a service that starts tasks by hand: each `create_task(...)` cancelled at the
end becomes `await stack.enter_async_context(background(coro, name=...))`; a class with
`start()`/`stop()` subclasses `Component` (a synchronous `start` becomes `async def`); a stop
list written out by hand goes away (the stack's reverse order is the stop order, so enter in
start order); a task that polls for a failure to set `stop` goes too: the body waits with
`await first_or_stop(failed.wait(), stop)` on an event the failure sets, and raises the failure's
sentence after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, Self, TypeVar

from stratos.common import eventloop
from stratos.common.errors import StratosError
from stratos.common.files import PRIVATE_UMASK
from stratos.common.logging import get_logger
from stratos.common.memory import keep_buffers_in_heap
from stratos.common.tracing import shutdown_tracing

log = get_logger(__name__)

T = TypeVar("T")


def run_service(main: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run `main(stop_event)` until it returns; returns the process exit code."""
    keep_buffers_in_heap()
    os.umask(PRIVATE_UMASK)

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await main(stop)
        finally:
            shutdown_tracing()

    try:
        eventloop.run(runner())
    except StratosError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


async def first_or_stop(awaitable: Awaitable[T], stop: asyncio.Event) -> T | None:
    """Wait for `awaitable` or for `stop`, whichever comes first: its result, or None when
    `stop` came first.

    An error the awaitable raises before `stop` is set is raised here. When `stop` comes first
    the awaitable is cancelled and waited for (`cancel_and_wait`); an error it ends with then is
    dropped (the service is stopping anyway), and a result it still delivers is returned rather
    than lost. So what it acquires is never leaked when it is entered through the service's
    stack: `await first_or_stop(stack.enter_async_context(cm), stop)`."""
    task = asyncio.ensure_future(awaitable)
    stopping = asyncio.ensure_future(stop.wait())
    stopped_first = True
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopped_first = not task.done()
    finally:
        with contextlib.suppress(Exception):  # raised again below when it is X's own error
            await cancel_and_wait(stopping, task)
    if task.cancelled() or (stopped_first and task.exception() is not None):
        return None
    return task.result()


class Component:
    """Base of a part of a service that holds something while it runs (a subscription, a
    background task, channels): a subclass defines `async start()` and `async stop()` and is
    used as `async with Part(...) as part:` or `await stack.enter_async_context(Part(...))`.

    Entering starts it, leaving stops it. When `start()` fails or is cancelled halfway, `stop()`
    runs before the error goes on (as distributed's `Server` does), so `stop()` must release
    whatever `start()` got to and skip what it did not. Tests may still call start/stop."""

    async def start(self) -> object:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            try:
                await self.stop()
            except Exception as exc:  # the failed start is the error to report
                log.warning(
                    "stop_after_failed_start_failed",
                    component=type(self).__name__,
                    error=str(exc) or repr(exc),
                )
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


@contextlib.asynccontextmanager
async def background(
    coro: Coroutine[Any, Any, object], *, name: str, stop: asyncio.Event | None = None
) -> AsyncIterator[asyncio.Task]:
    """Run `coro` as a task for the life of the block; leaving the block ends the task and
    raises the error it ended with, if any.

    Without `stop` the task is cancelled and waited for (`cancel_and_wait`). With `stop` it is a
    task that ends by itself once `stop` is set (a repair worker letting its running jobs finish
    within their grace): leaving sets `stop` — the block may be left because a later component
    failed to start, not only on SIGTERM — and waits for the task to end."""
    task = asyncio.create_task(coro, name=name)
    try:
        yield task
    finally:
        if stop is None:
            await cancel_and_wait(task)
        else:
            stop.set()
            await task


# How long a cancelled task may take to end before it is cancelled again.
CANCEL_AGAIN_S = 1.0


async def cancel_and_wait(*tasks: asyncio.Task | None) -> None:
    """Cancel background tasks and wait until each has finished (None entries are skipped); a
    task that ended with an error raises it here.

    One cancel() is not always enough. On Python 3.11 `asyncio.wait_for`, which nats-py awaits
    for every request, returns the reply and drops the cancellation when both land in the same
    loop iteration (https://github.com/python/cpython/issues/86296), and nats-py's own flush
    swallows CancelledError; a loop around such a call then runs on, and a stop() that awaited
    it once hung forever (seen on a loaded machine). So a task still running is cancelled again
    every CANCEL_AGAIN_S until it ends."""
    live = [t for t in tasks if t is not None]
    pending = {t for t in live if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_AGAIN_S)
        for task in pending:
            log.warning("task_ignored_cancel", task=task.get_name())
    for task in live:
        with contextlib.suppress(asyncio.CancelledError):
            task.result()
