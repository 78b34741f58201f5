"""Process lifecycle for every service: SIGTERM/SIGINT set a stop event; the service drains NATS,
stops gRPC with a grace period, flushes traces and exits 0. A bad config exits 2 with one
sentence on stderr. What a service writes to disk is its user's alone (PRIVATE_UMASK)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable

from stratos.common.errors import StratosError
from stratos.common.files import PRIVATE_UMASK
from stratos.common.logging import get_logger
from stratos.common.memory import keep_buffers_in_heap
from stratos.common.tracing import shutdown_tracing

log = get_logger(__name__)


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
        asyncio.run(runner())
    except StratosError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


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
