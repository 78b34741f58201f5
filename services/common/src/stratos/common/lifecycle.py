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
from stratos.common.memory import keep_buffers_in_heap
from stratos.common.tracing import shutdown_tracing


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


async def cancel_and_wait(*tasks: asyncio.Task | None) -> None:
    """Cancel background tasks and wait until each has finished (None entries are skipped)."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    for task in live:
        with contextlib.suppress(asyncio.CancelledError):
            await task
