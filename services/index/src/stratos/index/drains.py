"""Drains kept in the JetStream KV bucket STRATOS_DRAINS (node_id → DrainStatus), so every
index replica plans repair with the same draining set and answers the same progress; a
restarted index resumes every drain. Read into memory once a second: the repair loop asks for
the set synchronously on every round."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import nats.js.errors
from nats.js import JetStreamContext

from stratos.common.lifecycle import cancel_and_wait
from stratos.common.logging import get_logger
from stratos.common.natsutil import ensure_kv
from stratos.index.locations import read_all
from stratos.v1 import index_pb2

log = get_logger(__name__)

DRAIN_BUCKET = "STRATOS_DRAINS"
REFRESH_S = 1.0
# Nodes in these states get no new chunk and have theirs moved away.
HOLDING_OFF = (index_pb2.DRAIN_STATE_DRAINING, index_pb2.DRAIN_STATE_DRAINED)


class DrainRegistry:
    def __init__(self, kv) -> None:
        self._kv = kv
        self._cache: dict[str, index_pb2.DrainStatus] = {}
        self._task: asyncio.Task | None = None

    @classmethod
    async def open(cls, js: JetStreamContext, *, replicas: int) -> DrainRegistry:
        reg = cls(await ensure_kv(js, DRAIN_BUCKET, replicas=replicas))
        await reg.refresh()
        return reg

    @classmethod
    @contextlib.asynccontextmanager
    async def refreshing(
        cls, js: JetStreamContext, *, replicas: int
    ) -> AsyncIterator[DrainRegistry]:
        """The registry, opened and kept fresh in the background for the life of the block."""
        reg = await cls.open(js, replicas=replicas)
        reg.start()
        try:
            yield reg
        finally:
            await reg.stop()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self.refresh()
            except Exception as exc:  # NATS away: keep the last known set
                log.warning("drains_refresh_failed", error=str(exc) or repr(exc))

    async def refresh(self) -> None:
        raw = await read_all(self._kv)
        self._cache = {k: index_pb2.DrainStatus.FromString(v) for k, v in raw.items()}

    def draining(self) -> frozenset[str]:
        """Nodes being drained or drained: no placements, their chunks move away."""
        return frozenset(n for n, s in self._cache.items() if s.state in HOLDING_OFF)

    def get(self, node_id: str) -> index_pb2.DrainStatus | None:
        return self._cache.get(node_id)

    async def put(self, status: index_pb2.DrainStatus) -> None:
        await self._kv.put(status.node_id, status.SerializeToString())
        self._cache[status.node_id] = status

    async def forget(self, node_id: str) -> None:
        """A drained node that is put back to work (scaled up again) takes chunks again."""
        with contextlib.suppress(nats.js.errors.KeyNotFoundError):
            await self._kv.delete(node_id)
        self._cache.pop(node_id, None)
