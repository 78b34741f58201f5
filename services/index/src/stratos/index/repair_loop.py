"""The edge of repair: every STRATOS_REPAIR_INTERVAL_S read manifests, locations and the node
registry, ask the pure planner what to do, and publish the new jobs on the STRATOS_REPAIR work
queue (subject stratos.repair.job.<target>); apply the RepairResults storage nodes send back on
stratos.repair.result.<node> to the locations.

Nothing here must survive a restart: a restarted index plans the same jobs with the same IDs,
and JetStream's duplicate window (Nats-Msg-Id = job ID) stores each one once. A job whose
message is already gone from the queue (executed, its result missed) is published again under
`<job_id>.<sequence of the old message>`, a name every replica derives alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Collection

import nats.js.errors
from google.protobuf.message import DecodeError
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from stratos.common.lifecycle import Component, cancel_and_wait
from stratos.common.logging import get_logger
from stratos.common.nats_trust import Gate, Signer
from stratos.common.natsutil import (
    MANIFEST_BUCKET,
    REPAIR_RESULT_WILDCARD,
    ensure_kv,
    ensure_repair_stream,
)
from stratos.common.shown import enum_name
from stratos.common.tracing import extract_context, tracer
from stratos.index.config import IndexSettings
from stratos.index.jobqueue import publish_job
from stratos.index.locations import LocationStore
from stratos.index.manifest_cache import ManifestCache
from stratos.index.manifests import now_ms
from stratos.index.registry import Registry
from stratos.index.repair_health import Health, health
from stratos.index.repair_plan import (
    DELETE,
    REENCODE,
    FileView,
    NodeView,
    Plan,
    node_views,
    plan,
)
from stratos.index.ticketing import TicketSigner
from stratos.v1 import auth_pb2, repair_pb2, types_pb2

log = get_logger(__name__)
_tracer = tracer("stratos.index")
RESULT_SENDERS = frozenset({auth_pb2.MESH_ROLE_STORAGE})


class Outstanding:
    """Jobs published and not answered yet, each with a deadline; and targets that recently
    failed a chunk, avoided until theirs."""

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self._jobs: dict[str, tuple[repair_pb2.RepairJob, int]] = {}
        self._avoid: dict[tuple[str, str], int] = {}

    def __len__(self) -> int:
        return len(self._jobs)

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._jobs

    def jobs(self) -> list[repair_pb2.RepairJob]:
        return [job for job, _ in self._jobs.values()]

    def add(self, job: repair_pb2.RepairJob, now: int) -> None:
        self._jobs[job.job_id] = (job, now + self.timeout_ms)

    def answer(self, result: repair_pb2.RepairResult, now: int) -> repair_pb2.RepairJob | None:
        job, _ = self._jobs.pop(result.job_id, (None, 0))
        if not result.ok and result.kind != DELETE and result.node_id:
            self._avoid[(result.chunk_id, result.node_id)] = now + self.timeout_ms
        return job

    def expire(self, now: int) -> list[repair_pb2.RepairJob]:
        late = [jid for jid, (_, deadline) in self._jobs.items() if deadline <= now]
        self._avoid = {k: until for k, until in self._avoid.items() if until > now}
        return [self._jobs.pop(jid)[0] for jid in late]

    def avoid(self) -> set[tuple[str, str]]:
        return set(self._avoid)


class Budget:
    """A token bucket of bytes: refilled at `rate` per second up to `burst`. A job larger than
    the whole bucket still goes when the bucket is full, or it would never go."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens = rate, burst, burst

    def refill(self, elapsed_s: float) -> None:
        self.tokens = min(self.burst, self.tokens + self.rate * max(0.0, elapsed_s))

    def take(self, n: int) -> bool:
        if self.tokens >= n or self.tokens >= self.burst:
            self.tokens -= n
            return True
        return False


def _traffic(job: repair_pb2.RepairJob) -> int:
    """Bytes a job moves over the network: a re-encode reads k shares to write one."""
    if job.kind == REENCODE:
        return job.size * max(1, job.erasure.data_shares)
    return job.size


class RepairLoop(Component):
    def __init__(
        self,
        nc: NATS,
        registry: Registry,
        settings: IndexSettings,
        *,
        ready: Callable[[], bool] = lambda: True,
        draining: Callable[[], Collection[str]] = frozenset,
        clock: Callable[[], int] = now_ms,
        signer: Signer,
        gate: Gate,
        tickets: TicketSigner | None = None,
    ) -> None:
        self._nc, self._js = nc, nc.jetstream()
        self._signer, self._gate = signer, gate
        self._tickets = tickets  # a COPY or REENCODE job carries a ticket for its fetches
        self._registry = registry
        self._settings = settings
        self._ready, self._draining, self._clock = ready, draining, clock
        self.outstanding = Outstanding(int(settings.repair_job_timeout_s * 1000))
        interval = settings.repair_interval_s
        self._budget = Budget(
            settings.repair_plan_rate_bytes_s,
            settings.repair_plan_rate_bytes_s * max(1.0, interval),
        )
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._manifests = ManifestCache()
        self._manifest_kv = None
        self._locations: LocationStore | None = None
        self._sub = None
        self._task: asyncio.Task | None = None
        self._last_round = time.monotonic()
        self._reported: tuple = ()
        self._unrecoverable: set[str] = set()
        self.health: Health | None = None
        # the files and nodes of the last round, for drain checks and progress
        self.snapshot: tuple[list[FileView], dict[str, NodeView]] | None = None
        self._moved: deque[tuple[float, int]] = deque(maxlen=4096)  # (monotonic s, bytes)

    async def start(self, *, run: bool = True) -> None:
        """Open the stream and buckets and listen for results; with `run`, plan periodically."""
        replicas = self._settings.nats_replicas
        await ensure_repair_stream(self._js, replicas=replicas)
        self._manifest_kv = await ensure_kv(self._js, MANIFEST_BUCKET, replicas=replicas)
        self._locations = await LocationStore.open(self._js, replicas=replicas)
        self._sub = await self._nc.subscribe(REPAIR_RESULT_WILDCARD, cb=self._on_result)
        if run:
            self._task = asyncio.create_task(self._run())
        log.info(
            "repair_loop_started",
            interval_s=self._settings.repair_interval_s,
            plan_rate_bytes_s=self._settings.repair_plan_rate_bytes_s,
        )

    async def stop(self) -> None:
        """Stop planning and listening; safe after a start that failed halfway."""
        await cancel_and_wait(self._task)
        self._task = None
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except nats.js.errors.NoStreamResponseError:
                log.warning("repair_stream_missing")  # NATS came back without its store
                with contextlib.suppress(Exception):
                    await ensure_repair_stream(self._js, replicas=self._settings.nats_replicas)
            except Exception as exc:  # NATS away or slow: the next round tries again
                log.warning("repair_round_failed", error=str(exc) or repr(exc))
            # the next round at the interval, or at once when the last outstanding job is
            # answered (health is then current, and the next wave can be planned)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.repair_interval_s)
            self._wake.clear()

    async def refresh_snapshot(self) -> tuple[list[FileView], dict[str, NodeView]]:
        """Read the mesh now instead of waiting for the next round: a drain decided on a view
        from before a just-committed file would accept what it must refuse."""
        async with self._lock:
            manifests = await self._read_manifests()
            locations = await self._locations.all()
            files = [FileView(m, locations.get(fid)) for fid, m in sorted(manifests.items())]
            self.snapshot = (files, node_views(self._registry.statuses(self._clock())))
            return self.snapshot

    async def run_once(self) -> Plan | None:
        """One planning round; None when the registry is not caught up yet (planning from a
        half-read registry would see live nodes as missing)."""
        if not self._ready():
            return None
        async with self._lock:
            now = self._clock()
            for job in self.outstanding.expire(now):
                log.info("repair_job_expired", job_id=job.job_id, target=job.target_node_id)
            manifests = await self._read_manifests()
            locations = await self._locations.all()
            for file_id in locations.keys() - self._manifests.keys:
                await self._locations.delete(file_id)  # the file was deleted
                log.info("locations_removed", file_id=file_id)
            files = [FileView(m, locations.get(fid)) for fid, m in sorted(manifests.items())]
            nodes = node_views(self._registry.statuses(now))
            draining = set(self._draining())
            self.snapshot = (files, nodes)
            outstanding = self.outstanding.jobs()
            # In a thread: a big mesh takes a noticeable while, and gRPC must keep answering.
            p = await asyncio.to_thread(
                plan,
                files,
                nodes,
                draining,
                outstanding,
                avoid=self.outstanding.avoid(),
                now_ms=now,
            )
            if p.jobs:
                with _tracer.start_as_current_span(
                    "plan_repair",
                    attributes={
                        "stratos.files": len(files),
                        "stratos.jobs_planned": len(p.jobs),
                        "stratos.outstanding": len(outstanding),
                    },
                ) as span:
                    published = await self._publish_plan(p, now)
                    span.set_attribute("stratos.jobs_published", published)
            await self._report(p, files, nodes)
            return p

    async def _read_manifests(self) -> dict[str, types_pb2.Manifest]:
        return await self._manifests.read(self._manifest_kv)

    async def _publish_plan(self, p: Plan, now: int) -> int:
        elapsed = time.monotonic() - self._last_round
        self._last_round = time.monotonic()
        self._budget.refill(elapsed)
        published = 0
        for job in p.jobs:
            if len(self.outstanding) >= self._settings.repair_max_outstanding:
                break
            if job.kind != DELETE and not self._budget.take(_traffic(job)):
                continue  # over the rate: copies wait for a later round, deletes still go
            stored = await self._publish(job)
            self.outstanding.add(job, now)
            published += stored
            log.info(
                "repair_job_published" if stored else "repair_job_already_queued",
                job_id=job.job_id,
                kind=repair_pb2.RepairKind.Name(job.kind),
                file_id=job.file_id,
                chunk_id=job.chunk_id,
                target=job.target_node_id,
                reason=job.reason,
                size=job.size,
            )
        return published

    async def _publish(self, job: repair_pb2.RepairJob) -> bool:
        target = self._registry.get(job.target_node_id)
        if self._tickets is not None and target is not None and target.info.public_key:
            ticket = self._tickets.for_repair(job, bytes(target.info.public_key))
            if ticket is not None:  # on a copy: the planned job stays as the planner made it
                stamped = repair_pb2.RepairJob()
                stamped.CopyFrom(job)
                stamped.ticket.CopyFrom(ticket)
                job = stamped
        return await publish_job(self._js, job, self._signer)

    async def _report(self, p: Plan, files: list[FileView], nodes) -> None:
        for u in p.unrecoverable:
            if u.chunk_id not in self._unrecoverable:
                log.error(
                    "chunk_unrecoverable",
                    file_id=u.file_id,
                    segment=u.segment,
                    chunk_id=u.chunk_id,
                    reason=u.reason,
                )
        self._unrecoverable = {u.chunk_id for u in p.unrecoverable}
        self.health = await asyncio.to_thread(health, files, nodes, self.outstanding.jobs(), p)
        h = self.health
        summary = (h.healthy, h.degraded, h.repairing, h.bytes_to_repair, h.bytes_stuck)
        if summary != self._reported:
            self._reported = summary
            log.info(
                "repair_status",
                files=len(h.files),
                healthy=h.healthy,
                degraded=h.degraded,
                repairing=h.repairing,
                bytes_to_repair=h.bytes_to_repair,
                bytes_stuck=h.bytes_stuck,
                bytes_lost=h.bytes_lost,
                outstanding=len(self.outstanding),
                stuck=[f"{g.chunks} chunks: {g.reason}" for g in h.stuck],
                unrecoverable=h.unrecoverable,
            )

    async def _on_result(self, msg: Msg) -> None:
        try:
            result = repair_pb2.RepairResult.FromString(msg.data)
        except DecodeError:
            log.warning("repair_result_unreadable", subject=msg.subject)
            return
        if msg.subject.rsplit(".", 1)[-1] != result.node_id:
            # a node's NATS user may publish only on its own subject: a result naming another
            # node is someone speaking for it
            log.warning("repair_result_misaddressed", subject=msg.subject, node=result.node_id)
            return
        # Believed only from the storage node it is about: a forged "DELETE ok" would otherwise
        # write that node's copies off.
        if (
            self._gate.admit(
                msg.subject, msg.data, msg.headers, roles=RESULT_SENDERS, sender=result.node_id
            )
            is None
        ):
            return
        with _tracer.start_as_current_span(
            "repair_result",
            context=extract_context(msg.headers),
            attributes={
                "stratos.job_id": result.job_id,
                "stratos.file_id": result.file_id,
                "stratos.chunk_id": result.chunk_id,
                "stratos.node_id": result.node_id,
                "stratos.ok": result.ok,
            },
        ):
            try:
                await self._apply(result)
            except Exception as exc:  # the job expires and is planned again
                log.warning("repair_result_not_applied", job_id=result.job_id, error=str(exc))

    async def _apply(self, result: repair_pb2.RepairResult) -> None:
        async with self._lock:
            self.outstanding.answer(result, self._clock())
            if not len(self.outstanding):
                self._wake.set()
            fields = {
                "job_id": result.job_id,
                "kind": enum_name(repair_pb2.RepairKind, result.kind),
                "file_id": result.file_id,
                "chunk_id": result.chunk_id,
                "node": result.node_id,
            }
            if not result.ok:
                log.warning("repair_job_failed", error=result.error, **fields)
                return
            if not result.file_id:  # an orphan collected by GC: no file's locations to change
                return
            named = self._manifests.naming(result.chunk_id)
            if all(m.file_id != result.file_id for m in named):
                manifest = await self._manifest(result.file_id)  # committed since the last read
                named += [manifest] if manifest is not None else []
            if not named:
                log.info("repair_result_for_deleted_file", **fields)
                return
            changed = await self._locations.apply_all(result, named)
            if result.kind != DELETE:
                self._moved.append((time.monotonic(), result.bytes))
            log.info("repair_result_applied", changed=changed, bytes=result.bytes, **fields)

    def repair_bytes_per_s(self, window_s: float = 30.0) -> float:
        """Bytes copied or rebuilt per second over the last `window_s` (0 when idle)."""
        since = time.monotonic() - window_s
        recent = [(t, n) for t, n in self._moved if t >= since]
        if not recent:
            return 0.0
        span = max(time.monotonic() - recent[0][0], 1.0)
        return sum(n for _, n in recent) / span

    async def _manifest(self, file_id: str) -> types_pb2.Manifest | None:
        try:
            entry = await self._manifest_kv.get(file_id)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        if not entry.value:
            return None
        return types_pb2.Manifest.FromString(
            types_pb2.SignedManifest.FromString(entry.value).manifest
        )
