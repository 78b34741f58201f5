"""The edge of cleanup: every STRATOS_EXPIRY_INTERVAL_S remove the files whose expiry has come,
every STRATOS_GC_INTERVAL_S compare each live node's chunks (ListChunks) with the chunks the
catalog knows to be named and the reservations; and the hooks the gRPC edge calls — reserve
placed chunks, check a commit, collect a deleted file's chunks. Decisions are cleanup_rules';
chunks are deleted by DELETE jobs on the STRATOS_REPAIR work queue, which storage nodes
execute like any repair job.

Nothing here must survive a restart: a removed manifest's chunks that never got their jobs are
orphans, which the next GC rounds collect after the grace.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Container, Iterable

import grpc
import nats.js.errors
from nats.aio.client import Client as NATS

from stratos.common import grpcutil
from stratos.common.errors import FailedPrecondition
from stratos.common.lifecycle import Component, cancel_and_wait
from stratos.common.logging import get_logger
from stratos.common.manifests import file_summary
from stratos.common.nats_trust import Signer
from stratos.common.natsutil import (
    FILE_DELETED_SUBJECT,
    MANIFEST_BUCKET,
    ensure_kv,
    ensure_repair_stream,
)
from stratos.common.tracing import tracer
from stratos.index import cleanup_rules as rules
from stratos.index.catalog import Catalog
from stratos.index.config import IndexSettings
from stratos.index.jobqueue import publish_job
from stratos.index.locations import LocationStore
from stratos.index.manifests import _nats_call, now_ms
from stratos.index.pieces import manifest_holders
from stratos.index.registry import LIVE, Registry
from stratos.index.reservations import Record, ReservationStore
from stratos.index.ticketing import TicketSigner
from stratos.v1 import events_pb2, repair_pb2, storage_pb2, storage_pb2_grpc, types_pb2

log = get_logger(__name__)
_tracer = tracer("stratos.index")
_LIST_PAGE = 1000
_LIST_TIMEOUT_S = 600.0
_HAS_TIMEOUT_S = 10.0


class Cleanup(Component):
    def __init__(
        self,
        nc: NATS,
        registry: Registry,
        settings: IndexSettings,
        *,
        catalog: Catalog,
        signer: Signer,
        credentials: grpc.ChannelCredentials,
        ready: Callable[[], bool] = lambda: True,
        clock: Callable[[], int] = now_ms,
        tickets: TicketSigner | None = None,
    ) -> None:
        self._nc, self._js = nc, nc.jetstream()
        self._tickets = tickets  # this meta node's own tickets for ListChunks
        self._signer = signer
        self._registry, self._settings = registry, settings
        self._credentials = credentials  # mutual TLS with the index's own certificate
        self._ready, self._clock = ready, clock
        self._grace_ms = int(settings.gc_grace_s * 1000)
        self._manifest_kv = None
        self._locations: LocationStore | None = None
        self.reservations: ReservationStore | None = None
        self._catalog = catalog
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._tasks: list[asyncio.Task] = []
        self._releasing: set[asyncio.Task] = set()  # commits' reservations being released
        self.listed = 0  # chunks the GC round under way (or the last one) listed

    async def start(self, *, run: bool = True) -> None:
        """Open the stream and buckets; with `run`, sweep expired files and collect garbage."""
        replicas = self._settings.nats_replicas
        await ensure_repair_stream(self._js, replicas=replicas)
        self._manifest_kv = await ensure_kv(self._js, MANIFEST_BUCKET, replicas=replicas)
        self._locations = await LocationStore.open(self._js, replicas=replicas)
        self.reservations = await ReservationStore.open(self._js, replicas=replicas)
        if run:
            self._tasks = [
                asyncio.create_task(
                    self._every(self._settings.expiry_interval_s, self.expire_once)
                ),
                asyncio.create_task(self._collect_paced()),
            ]
        log.info(
            "cleanup_started",
            gc_interval_s=self._settings.gc_interval_s,
            gc_grace_s=self._settings.gc_grace_s,
            expiry_interval_s=self._settings.expiry_interval_s,
        )

    async def stop(self) -> None:
        """Stop both rounds and close the channels; safe after a start that failed halfway."""
        await cancel_and_wait(*self._tasks)
        self._tasks = []
        channels, self._channels = list(self._channels.values()), {}
        for ch in channels:
            with contextlib.suppress(Exception):
                await ch.close()

    async def _every(self, interval_s: float, work: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await work()
            except Exception as exc:  # NATS or a node away: the next round tries again
                log.warning("cleanup_round_failed", work=work.__name__, error=str(exc) or repr(exc))

    async def _collect_paced(self) -> None:
        """GC rounds at the interval, or further apart when the last one listed more chunks
        than STRATOS_GC_CHUNKS_PER_S allows: the safety net's cost stays bounded however many
        chunks the mesh holds."""
        while True:
            listed, self.listed = self.listed, 0
            await asyncio.sleep(
                rules.gc_pause(self._settings.gc_interval_s, listed, self._settings.gc_chunks_per_s)
            )
            try:
                await self.collect_once()
            except Exception as exc:  # NATS or a node away: the next round tries again
                log.warning(
                    "cleanup_round_failed", work="collect_once", error=str(exc) or repr(exc)
                )

    # -- hooks for the gRPC edge -------------------------------------------------------------

    async def reserve(self, chunk_ids: Iterable[str]) -> None:
        """Called by PlaceChunks before it answers: the writer may now store these chunks."""
        await self.reservations.reserve(chunk_ids, self._clock() + self._grace_ms)

    async def check_commit(self, manifest: types_pb2.Manifest) -> dict[str, Record]:
        """Refuse a commit whose upload outlived its reservations and lost a chunk since;
        returns the records read, which `committed` releases."""
        now = self._clock()
        ids = rules.chunk_ids(manifest)
        held = await self.reservations.records(ids)
        records = {cid: r.expires_unix_ms for cid, r in held.items()}
        if not rules.lapsed_at_commit(ids, records, set(), now):
            return held  # the usual case: no manifest read needed
        named = (await self._catalog.sync()).named_chunks()
        lapsed = rules.lapsed_at_commit(ids, records, named, now)
        where = manifest_holders(manifest)
        wanted: dict[str, list[str]] = {}
        for cid in lapsed:
            for node in where[cid]:
                wanted.setdefault(node, []).append(cid)
        for node, cids in sorted(wanted.items()):
            present = await self._has(node, cids)
            for cid, ok in zip(cids, present, strict=True):
                if not ok:
                    raise FailedPrecondition(
                        rules.lapsed_message(manifest.file_id, cid, node, self._settings.gc_grace_s)
                    )
        log.info("late_commit_verified", file_id=manifest.file_id, chunks=len(lapsed))
        return held

    def committed(self, manifest: types_pb2.Manifest, held: dict[str, Record]) -> None:
        """The manifest is stored: its chunks are referenced now and need no reservation. The
        records read at the check are released in the background, after the commit is
        answered — best effort (GC purges what stays), so the writer does not wait for it."""
        if not held:
            return
        task = asyncio.create_task(self._release(manifest.file_id, held))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release(self, file_id: str, held: dict[str, Record]) -> None:
        try:
            await self.reservations.release(held)
        except Exception as exc:  # GC purges them later anyway
            log.warning("reservations_not_released", file_id=file_id, error=str(exc))

    async def collect_file(self, manifest: types_pb2.Manifest, reason: str) -> int:
        """Send DELETE jobs for a removed file's chunks no other file names or upload reserves;
        returns how many were published."""
        now = self._clock()
        state = await self._catalog.sync()  # a file committed meanwhile may share a chunk
        keep = {
            cid for cid in rules.chunk_ids(manifest) if state.files_naming(cid) - {manifest.file_id}
        }
        keep |= rules.reserved(await self.reservations.get(rules.chunk_ids(manifest)), now)
        locations = await self._locations.get(manifest.file_id)
        jobs = rules.file_delete_jobs(manifest, locations, keep, reason=reason, now_ms=now)
        published = await self._publish_all(jobs)
        await self._locations.delete(manifest.file_id)
        log.info(
            "file_chunks_collected",
            file_id=manifest.file_id,
            reason=reason,
            jobs=len(jobs),
            published=published,
            shared_kept=len(set(rules.chunk_ids(manifest)) & keep),
        )
        return published

    # -- expiry ------------------------------------------------------------------------------

    async def expire_once(self) -> list[str]:
        """Remove every expired file; returns their IDs."""
        now = self._clock()
        state = self._catalog.state
        removed = []
        for fid in state.due(now):
            manifest = state.manifests.get(fid)
            if manifest is None:
                continue  # deleted while an earlier one was collected
            summary = await self._remove_expired(fid, now)
            if summary is None:
                continue
            removed.append(fid)
            await self.collect_file(manifest, reason="expired")
            event = events_pb2.FileEvent(file_id=fid, summary=summary)
            with contextlib.suppress(Exception):
                await self._signer.publish(
                    self._nc, FILE_DELETED_SUBJECT, event.SerializeToString()
                )
            log.info("file_expired", file_id=fid, expires_unix_ms=summary.expires_unix_ms)
        return removed

    async def _remove_expired(self, file_id: str, now: int) -> types_pb2.FileSummary | None:
        """Delete the manifest if it is still the expired one (its owner may have replaced it)."""
        try:
            async with _nats_call():
                entry = await self._manifest_kv.get(file_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        signed = types_pb2.SignedManifest.FromString(entry.value)
        manifest = types_pb2.Manifest.FromString(signed.manifest)
        if not rules.is_expired(manifest.expires_unix_ms, now):
            return None
        try:
            async with _nats_call():
                await self._manifest_kv.delete(file_id, last=entry.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            return None  # changed meanwhile: the next sweep looks again
        return file_summary(manifest, signed.owner_public_key)

    # -- orphan garbage collection -----------------------------------------------------------

    async def collect_once(self) -> list[repair_pb2.RepairJob]:
        """One GC round over every live node; returns the DELETE jobs it published or found
        already queued."""
        if not self._ready() or not self._catalog.ready:
            return []
        named = (await self._catalog.sync()).named_chunks()
        since = await self._metadata_since_ms()
        nodes = sorted(
            (s.info.node_id, s.info.address)
            for s in self._registry.statuses(self._clock())
            if s.state == LIVE
        )
        jobs: list[repair_pb2.RepairJob] = []
        for node_id, address in nodes:
            try:
                jobs += await self._collect_node(node_id, address, named, since)
            except grpc.RpcError as err:
                log.warning("gc_node_unlisted", node=node_id, error=err.details() or str(err))
        await self._purge_reservations(named)
        return jobs

    async def _metadata_since_ms(self) -> int:
        """When the manifest bucket's stream was created: chunks stored before it are never
        collected as orphans (see `cleanup_rules.orphans`)."""
        async with _nats_call():
            info = await self._js.stream_info(f"KV_{MANIFEST_BUCKET}")
        created = info.created
        return int(created.timestamp() * 1000) if created is not None else 0

    async def _collect_node(
        self, node_id: str, address: str, named: Container[str], since_ms: int
    ) -> list[repair_pb2.RepairJob]:
        with _tracer.start_as_current_span(
            "collect_garbage", attributes={"stratos.node_id": node_id}
        ) as span:
            listed = 0
            candidates: list[rules.ChunkCopy] = []
            request = storage_pb2.ListChunksRequest(page_size=_LIST_PAGE)
            if self._tickets is not None:
                own = self._tickets.own(node_id)
                request.auth.CopyFrom(own.prove("ListChunks", node_id, "", str(_LIST_PAGE)))
            call = self._stub(address).ListChunks(request, timeout=_LIST_TIMEOUT_S)
            async for page in call:
                listed += len(page.chunks)
                self.listed += len(page.chunks)
                copies = [
                    rules.ChunkCopy(c.chunk_id, c.size, c.stored_unix_ms) for c in page.chunks
                ]
                # Only what already looks like garbage is kept while the walk goes on.
                candidates += rules.orphans(
                    copies, named, set(), now_ms=self._clock(), grace_ms=self._grace_ms
                )
            # Reservations are read after the listing (rule 2 in cleanup_rules), and the
            # catalog brought up to date: a late commit may have named a candidate meanwhile
            # (`named` is a live view of it).
            if candidates:
                await self._catalog.sync()
            now = self._clock()
            held = rules.reserved(await self.reservations.get(c.chunk_id for c in candidates), now)
            garbage = rules.orphans(
                candidates,
                named,
                held,
                now_ms=now,
                grace_ms=self._grace_ms,
                metadata_since_ms=since_ms,
            )
            spared = sum(1 for c in candidates if c.stored_unix_ms < since_ms)
            if spared:
                log.warning(
                    "gc_spared_chunks_older_than_the_manifest_store",
                    node=node_id,
                    chunks=spared,
                    manifest_store_created_unix_ms=since_ms,
                )
            jobs = [
                rules.delete_job(c.chunk_id, node_id, c.size, reason="orphan chunk", now_ms=now)
                for c in garbage
            ]
            published = await self._publish_all(jobs)
            span.set_attributes({"stratos.chunks": listed, "stratos.orphans": len(jobs)})
        if jobs:
            log.info(
                "gc_node_listed",
                node=node_id,
                chunks=listed,
                orphans=len(jobs),
                published=published,
            )
        return jobs

    async def _purge_reservations(self, named: Container[str]) -> None:
        now = self._clock()
        done, stale = rules.purgeable(
            await self.reservations.all(), named, now_ms=now, grace_ms=self._grace_ms
        )
        purged = await self.reservations.purge(done, unless_after=now)
        purged += await self.reservations.purge(stale, unless_after=now - self._grace_ms)
        if purged:
            log.info("reservations_purged", count=purged)

    # -- plumbing ----------------------------------------------------------------------------

    def _stub(self, address: str) -> storage_pb2_grpc.StorageServiceStub:
        ch = self._channels.get(address)
        if ch is None:
            ch = self._channels[address] = grpcutil.channel(address, self._credentials)
        return storage_pb2_grpc.StorageServiceStub(ch)

    async def _has(self, node_id: str, chunk_ids: list[str]) -> list[bool]:
        """Which chunks the node holds; all False when it is unknown or does not answer (a copy
        nobody can confirm counts as gone)."""
        rec = self._registry.get(node_id)
        if rec is None:
            return [False] * len(chunk_ids)
        try:
            resp = await self._stub(rec.info.address).HasChunks(
                storage_pb2.HasChunksRequest(chunk_ids=chunk_ids), timeout=_HAS_TIMEOUT_S
            )
        except grpc.RpcError as err:
            log.warning("late_commit_check_failed", node=node_id, error=err.details() or str(err))
            return [False] * len(chunk_ids)
        return list(resp.present)

    async def _publish_all(self, jobs: list[repair_pb2.RepairJob]) -> int:
        published = 0
        for job in jobs:
            stored = await self._publish(job)
            published += stored
            log.info(
                "cleanup_job_published" if stored else "cleanup_job_already_queued",
                job_id=job.job_id,
                file_id=job.file_id,
                chunk_id=job.chunk_id,
                target=job.target_node_id,
                reason=job.reason,
            )
        return published

    async def _publish(self, job: repair_pb2.RepairJob) -> bool:
        async with _nats_call():
            return await publish_job(self._js, job, self._signer)
