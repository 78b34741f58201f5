"""Where the client's per-chunk work runs: hashing, AES-GCM and file reads and writes release
the GIL, so for large pieces they run in a worker thread while the event loop keeps the other
transfers fed. A small piece stays on the loop: a thread hop costs about 130 µs of CPU on this
machine (measured on a bare grpc.aio server), more than hashing, sealing or writing 256 KiB —
and a 64 KiB get or put made two or three of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

INLINE_BYTES = 256 * 1024


async def run(size: int, fn: Callable[..., T], /, *args: object) -> T:
    """`fn(*args)`, the work on `size` bytes: on the loop when small, else in a worker thread."""
    if size <= INLINE_BYTES:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)
