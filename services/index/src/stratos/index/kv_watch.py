"""Follows a JetStream KV bucket from inside the index: every key's current value once at start,
then each change as it is written — so a loop that needs the bucket keeps it in memory and
learns what changed, instead of reading every key again each round.

An ordered consumer delivering LAST_PER_SUBJECT on the bucket's stream does it (the way
`heartbeats.py` follows the heartbeat stream): ordered consumers re-create themselves from the
next stream sequence when their idle heartbeats stop, which carries the watch across a NATS
restart. A NATS that comes back *without* its store (the stream is gone, made again, or started over
at a lower sequence) is noticed by a slow check, and the watch starts afresh: `on_reset`
first, then every key again.

`sync()` is what makes reads from memory the truth and not a cached plan: it waits until every
change stored before the call has been delivered, so a listing after a commit (on any replica)
shows the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from stratos.common.errors import Unavailable
from stratos.common.lifecycle import cancel_and_wait
from stratos.common.logging import get_logger

log = get_logger(__name__)

CONSUMER_IDLE_HEARTBEAT_S = 1.0
STREAM_CHECK_INTERVAL_S = 5.0
_REMOVED = frozenset({"DEL", "PURGE"})

OnEntry = Callable[[str, bytes | None], None]


class KvWatch:
    """Calls `on_entry(key, value)` for every key of `bucket` (value None: deleted), in stream
    order, from the event loop. `on_reset()` comes before a fresh start."""

    def __init__(
        self,
        js: JetStreamContext,
        bucket: str,
        on_entry: OnEntry,
        on_reset: Callable[[], None] = lambda: None,
        *,
        ensure: Callable[[], Awaitable[object]] | None = None,
        check_interval_s: float = STREAM_CHECK_INTERVAL_S,
    ) -> None:
        self._js, self._bucket = js, bucket
        self._stream, self._prefix = f"KV_{bucket}", f"$KV.{bucket}."
        self._on_entry, self._on_reset = on_entry, on_reset
        self._ensure = ensure  # re-creates the bucket when NATS lost it
        self._check_interval_s = check_interval_s
        self._sub = None
        self._watch: asyncio.Task | None = None
        self._seen_seq = 0
        self._created = None  # when the stream followed was made: another time is another stream
        self._progress = asyncio.Event()
        self.caught_up = asyncio.Event()

    async def start(self, catch_up_timeout_s: float = 30.0) -> None:
        """Subscribe and wait (bounded) until every key stored at start has been delivered."""
        target = await self._subscribe()
        try:
            await self.wait_for(target, catch_up_timeout_s)
        except Unavailable:
            log.warning("kv_watch_not_caught_up", bucket=self._bucket, seen=self._seen_seq)
        self._watch = asyncio.create_task(self._check_stream())

    async def stop(self) -> None:
        await cancel_and_wait(self._watch)
        self._watch = None
        await self._unsubscribe()

    async def sync(self, timeout_s: float = 10.0) -> None:
        """Return once every change stored before this call has been delivered."""
        last = (await self._js.stream_info(self._stream)).state.last_seq
        await self.wait_for(last, timeout_s)

    async def wait_for(self, seq: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self._seen_seq < seq:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unavailable(
                    f"the index is still reading the {self._bucket} bucket "
                    f"(at {self._seen_seq} of {seq}); try again in a moment"
                )
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), min(remaining, 0.5))

    async def _subscribe(self) -> int:
        info = await self._js.stream_info(self._stream)
        target, self._created = info.state.last_seq, info.created
        self._seen_seq = 0
        if target == 0:
            self.caught_up.set()
        self._sub = await self._js.subscribe(
            f"{self._prefix}>",
            stream=self._stream,
            cb=self._on_msg,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            idle_heartbeat=CONSUMER_IDLE_HEARTBEAT_S,
        )
        return target

    async def _on_msg(self, msg: Msg) -> None:
        key = msg.subject.removeprefix(self._prefix)
        operation = (msg.headers or {}).get("KV-Operation", "")
        try:
            self._on_entry(key, None if operation in _REMOVED else msg.data)
        except Exception as exc:  # one odd entry must not stop the watch
            log.warning("kv_entry_not_applied", bucket=self._bucket, key=key, error=repr(exc))
        pending = msg.metadata.num_pending
        self._seen_seq = max(self._seen_seq, msg.metadata.sequence.stream)
        if pending == 0:
            self.caught_up.set()
        self._progress.set()

    async def _check_stream(self) -> None:
        while True:
            await asyncio.sleep(self._check_interval_s)
            try:
                info = await self._js.stream_info(self._stream)
                if info.state.last_seq >= self._seen_seq and info.created == self._created:
                    continue
                log.warning("kv_stream_reset", bucket=self._bucket, last_seq=info.state.last_seq)
            except NotFoundError:
                log.warning("kv_stream_missing", bucket=self._bucket)
            except Exception as exc:  # NATS unreachable: the client reconnects; look again later
                log.debug("kv_stream_check_failed", bucket=self._bucket, error=str(exc))
                continue
            try:
                await self._unsubscribe()
                if self._ensure is not None:
                    await self._ensure()
                self._on_reset()
                await self._subscribe()
            except Exception as exc:
                log.warning("kv_resubscribe_failed", bucket=self._bucket, error=str(exc))

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):  # already gone with the connection or stream
                await sub.unsubscribe()
