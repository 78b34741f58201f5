"""Foreground traffic on this node: uploads and reads by clients (not repair's own pulls), so
repair can yield the disk while users are moving data and take all of it when they are not."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Metadata a repair transfer sends with its GetChunk, so the source does not count it as
# foreground (repair must not throttle repair).
REPAIR_METADATA = ("stratos-repair", "1")
# A transfer that ended this recently still counts: a client streams segment after segment with
# short gaps between calls.
LINGER_S = 1.0


class Activity:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._active = 0
        self._last_end = float("-inf")

    @contextmanager
    def transfer(self) -> Iterator[None]:
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1
            self._last_end = self._clock()

    def busy(self) -> bool:
        return self._active > 0 or self._clock() - self._last_end < LINGER_S


def is_repair(metadata: object) -> bool:
    return REPAIR_METADATA in tuple(metadata or ())
