"""Heartbeats: how the index learns that this node is alive, where it is and how full it is.

One is sent at start and then every interval. Sending never crashes the node: a failed publish
(NATS down, not yet connected) is logged once and simply retried at the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from stratos.common.logging import get_logger
from stratos.common.natsutil import HEARTBEAT_SUBJECT
from stratos.storage.chunkstore import StoreStat
from stratos.v1 import events_pb2, types_pb2

log = get_logger(__name__)


@dataclass(frozen=True)
class NodeDescriptor:
    """What a heartbeat says about the node besides its fill level."""

    node_id: str
    address: str
    zone: str
    public_key: bytes
    version: str


def heartbeat_subject(node_id: str) -> str:
    return HEARTBEAT_SUBJECT.format(node_id=node_id)


def build_heartbeat(node: NodeDescriptor, stat: StoreStat, now_ms: int) -> events_pb2.Heartbeat:
    return events_pb2.Heartbeat(
        node=types_pb2.NodeInfo(
            node_id=node.node_id,
            address=node.address,
            zone=node.zone,
            capacity_bytes=stat.capacity_bytes,
            used_bytes=stat.used_bytes,
            public_key=node.public_key,
            version=node.version,
        ),
        sent_unix_ms=now_ms,
        chunk_count=stat.chunk_count,
    )


class Heartbeater:
    """Sends `build_heartbeat(...)` through `send(subject, payload)` until stopped."""

    def __init__(
        self,
        node: NodeDescriptor,
        stat: Callable[[], StoreStat],
        send: Callable[[str, bytes], Awaitable[None]],
        interval_s: float,
    ) -> None:
        self.node = node
        self.stat = stat
        self.send = send
        self.interval_s = interval_s
        self.sent = 0
        self._wake = asyncio.Event()
        self._failing = False

    def poke(self) -> None:
        """Send the next heartbeat now (e.g. NATS just came up) instead of at the next tick."""
        self._wake.set()

    async def beat(self) -> bool:
        """Send one heartbeat; True when it went out."""
        msg = build_heartbeat(self.node, self.stat(), int(time.time() * 1000))
        try:
            await self.send(heartbeat_subject(self.node.node_id), msg.SerializeToString())
        except Exception as exc:  # whatever NATS raises, the node keeps serving
            if not self._failing:
                log.warning("heartbeat_failed", error=str(exc) or type(exc).__name__)
            self._failing = True
            return False
        if self._failing:
            log.info("heartbeat_resumed")
        self._failing = False
        self.sent += 1
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Beat at once, then every interval, until `stop` is set."""
        while not stop.is_set():
            self._wake.clear()
            await self.beat()
            await _wait_any(stop, self._wake, timeout_s=self.interval_s)


async def _wait_any(*events: asyncio.Event, timeout_s: float) -> None:
    tasks = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
