"""The edge of repair: every STRATOS_REPAIR_INTERVAL_S ask the pure planner what to do about
the files that may need something, and publish the new jobs on the STRATOS_REPAIR work queue
(subject stratos.repair.job.<target>); apply the RepairResults storage nodes send back on
stratos.repair.result.<node> to the locations.

A round costs what changed, not what is stored (`repair_scope.py` decides which files): files
whose manifest or locations changed (the catalog says which), the files on a node whose state
changed or that began or ended a drain, files not settled last round (short of copies, stuck,
or with jobs planned), files of jobs in flight or expired — each with every file sharing a
chunk with it. A node entering service, and a slow periodic sweep, put every file in a queue
planned a bounded batch per round, so rebalancing and the safety net cost a bounded share of a
core however many files exist. The first round checks every file's health once.

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
from stratos.index.catalog import Catalog
from stratos.index.config import IndexSettings
from stratos.index.jobqueue import batches, publish_batch, publish_job
from stratos.index.locations import LocationStore
from stratos.index.manifests import now_ms
from stratos.index.registry import Registry
from stratos.index.repair_health import Health, HealthBook, check_files
from stratos.index.repair_plan import (
    DELETE,
    REENCODE,
    FileView,
    NodeView,
    Plan,
    Stuck,
    node_views,
    plan,
)
from stratos.index.repair_scope import NodeKey, Sweep, node_changes, node_keys
from stratos.index.ticketing import TicketSigner
from stratos.v1 import auth_pb2, repair_pb2, types_pb2

log = get_logger(__name__)
_tracer = tracer("stratos.index")
RESULT_SENDERS = frozenset({auth_pb2.MESH_ROLE_STORAGE})
_PUBLISH_CONCURRENCY = 64  # job publishes awaiting their acknowledgement at once


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
        catalog: Catalog,
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
        self._catalog = catalog
        self._ready, self._draining, self._clock = ready, draining, clock
        self.outstanding = Outstanding(int(settings.repair_job_timeout_s * 1000))
        interval = settings.repair_interval_s
        self._budget = Budget(
            settings.repair_plan_rate_bytes_s,
            settings.repair_plan_rate_bytes_s * max(1.0, interval),
        )
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._locations: LocationStore | None = None
        self._sub = None
        self._task: asyncio.Task | None = None
        self._last_round = time.monotonic()
        self._reported: tuple = ()
        self._lost: dict[str, set[str]] = {}  # file → its chunks no node can supply, as logged
        self._manifest_kv = None
        # what the next round plans (repair_scope): changed files, files not settled yet, the
        # sweep queue; and what the last round saw of the nodes, to tell what changed
        self._changed: set[str] = set()
        self._unsettled: set[str] = set()
        self._sweep = Sweep()
        self._next_sweep = time.monotonic() + settings.repair_sweep_interval_s
        self._node_keys: dict[str, NodeKey] = {}
        self._was_draining: frozenset[str] = frozenset()
        self._first = True
        self._book = HealthBook()
        self._stuck: dict[str, list[Stuck]] = {}
        self.health: Health | None = None
        self.nodes: dict[str, NodeView] = {}  # the nodes of the last round
        self.planned_files = 0  # files the last round planned (what a round costs)
        self._moved: deque[tuple[float, int]] = deque(maxlen=4096)  # (monotonic s, bytes)

    async def start(self, *, run: bool = True) -> None:
        """Open the stream and buckets and listen for results; with `run`, plan periodically."""
        replicas = self._settings.nats_replicas
        await ensure_repair_stream(self._js, replicas=replicas)
        self._locations = await LocationStore.open(self._js, replicas=replicas)
        self._manifest_kv = await ensure_kv(self._js, MANIFEST_BUCKET, replicas=replicas)
        self._catalog.state.listen(self._changed_file)
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

    def _changed_file(self, file_id: str) -> None:
        self._changed.add(file_id)

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

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def current_nodes(self) -> dict[str, NodeView]:
        """The nodes as the registry has them now."""
        return node_views(self._registry.statuses(self._clock()), self._registry.suspended)

    def views(self, node_id: str = "") -> list[FileView]:
        """The files as the catalog has them now: those with a copy on `node_id`, or all."""
        state = self._catalog.state
        return state.views(state.files_on(node_id) if node_id else state.all_ids())

    async def run_once(self) -> Plan | None:
        """One planning round; None when the registry or the catalog is not caught up yet
        (planning from a half-read registry would see live nodes as missing)."""
        if not self._ready() or not self._catalog.ready:
            return None
        # Up to date first: a round plans from what is stored, not from what had arrived.
        state = await self._catalog.sync()
        async with self._lock:
            now = self._clock()
            for job in self.outstanding.expire(now):
                log.info("repair_job_expired", job_id=job.job_id, target=job.target_node_id)
                self._changed |= state.files_naming(job.chunk_id)
            for file_id in state.stray_locations():
                await self._locations.delete(file_id)  # the file was deleted
                log.info("locations_removed", file_id=file_id)
            nodes = node_views(self._registry.statuses(now), self._registry.suspended)
            draining = frozenset(self._draining())
            self._note_nodes(nodes, draining)
            changed, self._changed = self._changed, set()
            seeds = changed | self._unsettled | set(self._sweep.take(self._sweep_batch()))
            outstanding = self.outstanding.jobs()
            for job in outstanding:
                seeds |= state.files_naming(job.chunk_id)
            check_all, self._first = self._first, False
            scope = state.closure(state.all_ids() if check_all else seeds)
            files = state.views(scope)
            self.nodes = nodes
            # In a thread: a big change takes a noticeable while, and gRPC must keep answering.
            started = time.monotonic()
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
                    published = await self._publish_plan(
                        p, now, files=len(files), plan_s=time.monotonic() - started
                    )
                    span.set_attribute("stratos.jobs_published", published)
            await self._report(p, scope, files, nodes)
            self.planned_files = len(files)
            return p

    def _sweep_batch(self) -> int:
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self._settings.repair_sweep_interval_s
            self._sweep.add(self._catalog.state.all_ids())
        return self._settings.repair_sweep_files_per_round

    def _note_nodes(self, nodes: dict[str, NodeView], draining: frozenset[str]) -> None:
        keys = node_keys(nodes)
        changed, entered = node_changes(self._node_keys, keys, self._was_draining, draining)
        for n in changed:
            self._changed |= self._catalog.state.files_on(n)
        if entered and not self._first:
            self._sweep.add(self._catalog.state.all_ids())  # rebalance onto it, paced
        if changed:
            log.info("repair_nodes_changed", nodes=sorted(changed), entered=entered)
        self._node_keys, self._was_draining = keys, draining

    async def _publish_plan(self, p: Plan, now: int, *, files: int, plan_s: float) -> int:
        """Publish what the limits allow (outstanding jobs, the byte budget), many at once: a
        lost node's thousands of jobs must not wait on one acknowledgement after another."""
        elapsed = time.monotonic() - self._last_round
        self._last_round = time.monotonic()
        self._budget.refill(elapsed)
        chosen: list[repair_pb2.RepairJob] = []
        for job in p.jobs:
            if len(self.outstanding) + len(chosen) >= self._settings.repair_max_outstanding:
                break
            if job.kind != DELETE and not self._budget.take(_traffic(job)):
                continue  # over the rate: copies wait for a later round, deletes still go
            chosen.append(job)
        # Few jobs go one per message; many go in batches per node (jobqueue.MAX_BATCH each).
        batched = len(chosen) >= self._settings.repair_batch_from
        units = batches(chosen) if batched else [[j] for j in chosen]
        gate = asyncio.Semaphore(_PUBLISH_CONCURRENCY)

        async def one(unit: list[repair_pb2.RepairJob]) -> tuple[bool, int]:
            stamped = [self._stamp(j) for j in unit]
            async with gate:
                if not batched:
                    stored = await publish_job(self._js, stamped[0], self._signer)
                else:
                    stored = await publish_batch(self._js, stamped, self._signer)
            for job in unit:
                self.outstanding.add(job, now)
                log.debug(
                    "repair_job_published" if stored else "repair_job_already_queued",
                    job_id=job.job_id,
                    kind=repair_pb2.RepairKind.Name(job.kind),
                    file_id=job.file_id,
                    chunk_id=job.chunk_id,
                    target=job.target_node_id,
                    reason=job.reason,
                    size=job.size,
                )
            return stored, len(unit)

        started = time.monotonic()
        results = await asyncio.gather(*(one(u) for u in units), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        done = [r for r in results if not isinstance(r, BaseException)]
        published = sum(n for stored, n in done if stored)
        log.info(
            "repair_jobs_published",
            planned=len(p.jobs),
            published=published,
            already_queued=sum(n for stored, n in done if not stored),
            failed=len(chosen) - sum(n for _, n in done),
            messages=len(units),
            held_back=len(p.jobs) - len(chosen),
            reasons=sorted({j.reason for j in chosen})[:10],
            files=files,
            plan_s=round(plan_s, 3),
            publish_s=round(time.monotonic() - started, 3),
        )
        if failed:
            raise failed[0]
        return published

    def _stamp(self, job: repair_pb2.RepairJob) -> repair_pb2.RepairJob:
        """The job with the ticket its target fetches with (a copy: the planned job stays as
        the planner made it)."""
        target = self._registry.get(job.target_node_id)
        if self._tickets is not None and target is not None and target.info.public_key:
            ticket = self._tickets.for_repair(job, bytes(target.info.public_key))
            if ticket is not None:
                stamped = repair_pb2.RepairJob()
                stamped.CopyFrom(job)
                stamped.ticket.CopyFrom(ticket)
                return stamped
        return job

    async def _report(
        self, p: Plan, scope: set[str], files: list[FileView], nodes: dict[str, NodeView]
    ) -> None:
        known = {c for chunks in self._lost.values() for c in chunks}
        for u in p.unrecoverable:
            if u.chunk_id not in known:
                log.error(
                    "chunk_unrecoverable",
                    file_id=u.file_id,
                    segment=u.segment,
                    chunk_id=u.chunk_id,
                    reason=u.reason,
                )
        for file_id in scope:  # what the round planned replaces what was known of them
            self._stuck.pop(file_id, None)
            self._lost.pop(file_id, None)
        for s in p.stuck:
            self._stuck.setdefault(s.file_id, []).append(s)
        for u in p.unrecoverable:
            self._lost.setdefault(u.file_id, set()).add(u.chunk_id)
        checks = await asyncio.to_thread(check_files, files, nodes, self.outstanding.jobs(), p)
        self._book.update(scope, checks)
        # Not settled: short of something, or with jobs planned (published or over the
        # budget): planned again next round, until nothing is left to do for them. Files
        # short only of copies on suspect nodes wait for those nodes' next state instead
        # (a node's change plans its files): a suspect node holding a third of 100,000 files
        # would otherwise have every round plan them all again, for nothing.
        state = self._catalog.state
        unsettled = {
            c.health.file_id for c in checks if c.health.state != "healthy" and not c.only_waiting
        }
        for cid in {j.chunk_id for j in p.jobs}:
            unsettled |= state.files_naming(cid)
        self._unsettled = unsettled
        node_chunks = {n: load.chunks for n, load in state.loads().items()}
        stuck = [s for group in self._stuck.values() for s in group]
        self.health = self._book.health(node_chunks, stuck)
        h = self.health
        summary = (h.healthy, h.degraded, h.repairing, h.bytes_to_repair, h.bytes_stuck)
        if summary != self._reported:
            self._reported = summary
            log.info(
                "repair_status",
                files=h.file_count,
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
            named = self._catalog.state.naming(result.chunk_id)
            if all(m.file_id != result.file_id for m in named):
                manifest = await self._manifest(result.file_id)  # committed, not seen yet
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
