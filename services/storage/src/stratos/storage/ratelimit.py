"""A token bucket in bytes per second, shared by every repair transfer of a node.

Repair must not starve foreground uploads of disk and network, so all repair bytes on a node
draw from one bucket. A request larger than the bucket is allowed to go into debt (the tokens go
negative) and waits until the debt is paid: pieces of any size pass, and the long-run rate still
holds. The arithmetic is a pure class with the clock passed in; `RateLimiter` adds the waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """Tokens refill at `rate` per second up to `burst`; `take` says how long to wait."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("a token bucket needs a positive rate and burst")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self._last = now

    def take(self, n: int, now: float) -> float:
        """Take `n` tokens at time `now`; returns the seconds the caller must wait before using
        them (0 when they were there). Later callers queue behind the debt of earlier ones."""
        elapsed = max(0.0, now - self._last)
        self._last = max(self._last, now)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.tokens -= n
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class RateLimiter:
    """Async front of a TokenBucket; `rate_bytes_s` 0 means unlimited."""

    def __init__(
        self,
        rate_bytes_s: int,
        *,
        burst_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.rate_bytes_s = rate_bytes_s
        # A quarter second of traffic: smooth enough for the disk, big enough for a 1 MiB piece
        # at any useful rate.
        burst = burst_bytes if burst_bytes is not None else max(rate_bytes_s // 4, 64 * 1024)
        self._bucket = TokenBucket(rate_bytes_s, burst, clock()) if rate_bytes_s > 0 else None

    async def acquire(self, n: int) -> None:
        if self._bucket is None or n <= 0:
            return
        wait_s = self._bucket.take(n, self.clock())
        if wait_s > 0:
            await asyncio.sleep(wait_s)


class AdaptiveLimiter:
    """Two rates: `idle_rate_bytes_s` while `busy()` is false (0 = unlimited: repair takes the
    whole disk when nobody else wants it) and `busy_rate_bytes_s` while it is true (foreground
    uploads or reads are running, so repair yields most of the disk and network to them)."""

    def __init__(
        self,
        idle_rate_bytes_s: int,
        busy_rate_bytes_s: int,
        busy: Callable[[], bool],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle = RateLimiter(idle_rate_bytes_s, clock=clock)
        self.busy = RateLimiter(busy_rate_bytes_s, clock=clock)
        self._is_busy = busy

    @property
    def rate_bytes_s(self) -> int:
        """The lowest rate a transfer may be held to (for sizing deadlines); 0 = unlimited."""
        rates = [r for r in (self.idle.rate_bytes_s, self.busy.rate_bytes_s) if r > 0]
        return min(rates, default=0)

    async def acquire(self, n: int) -> None:
        await (self.busy if self._is_busy() else self.idle).acquire(n)
