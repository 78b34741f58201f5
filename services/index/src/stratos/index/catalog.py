"""The index's one in-memory view of every stored file: the manifests and locations buckets,
followed by two `KvWatch`es into a `CatalogState`. Repair, cleanup, audits, drains and listings
all ask it, so no loop reads the buckets whole: a fresh replica reads them once at start, and
afterwards only what changes arrives.

Reads that must be the truth (a listing, a drain decision) call `sync()` first: it returns once
every change stored before the call has arrived, whichever replica wrote it.
"""

from __future__ import annotations

from nats.js import JetStreamContext

from stratos.common.lifecycle import Component
from stratos.common.logging import get_logger
from stratos.common.natsutil import LOCATIONS_BUCKET, MANIFEST_BUCKET, ensure_kv
from stratos.index.catalog_state import CatalogState
from stratos.index.kv_watch import KvWatch

log = get_logger(__name__)


class Catalog(Component):
    def __init__(self, js: JetStreamContext, *, replicas: int) -> None:
        self._js, self._replicas = js, replicas
        self.state = CatalogState()
        self._manifests = KvWatch(
            js,
            MANIFEST_BUCKET,
            self._on_manifest,
            self._forget_manifests,
            ensure=lambda: ensure_kv(js, MANIFEST_BUCKET, replicas=replicas),
        )
        self._locations = KvWatch(
            js,
            LOCATIONS_BUCKET,
            self.state.put_locations,
            self._forget_locations,
            ensure=lambda: ensure_kv(js, LOCATIONS_BUCKET, replicas=replicas),
        )

    async def start(self) -> None:
        """Open both buckets and read them (bounded: a slow read goes on in the background and
        `ready` says when it is done)."""
        await ensure_kv(self._js, MANIFEST_BUCKET, replicas=self._replicas)
        await ensure_kv(self._js, LOCATIONS_BUCKET, replicas=self._replicas)
        await self._manifests.start()
        await self._locations.start()
        log.info(
            "catalog_read",
            files=len(self.state),
            locations=len(self.state.locations),
            ready=self.ready,
        )

    async def stop(self) -> None:
        await self._locations.stop()
        await self._manifests.stop()

    @property
    def ready(self) -> bool:
        """Both buckets have been read whole once."""
        return self._manifests.caught_up.is_set() and self._locations.caught_up.is_set()

    async def sync(self, timeout_s: float = 10.0) -> CatalogState:
        """The state, once every change stored before this call has arrived."""
        await self._manifests.sync(timeout_s)
        await self._locations.sync(timeout_s)
        return self.state

    def _on_manifest(self, file_id: str, value: bytes | None) -> None:
        if not self.state.put_manifest(file_id, value):
            log.warning("manifest_unreadable", file_id=file_id)

    def _forget_manifests(self) -> None:
        for file_id in list(self.state.manifests):
            self.state.put_manifest(file_id, None)

    def _forget_locations(self) -> None:
        for file_id in list(self.state.locations):
            self.state.put_locations(file_id, None)
