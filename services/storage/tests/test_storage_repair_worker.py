"""Repair jobs end to end: a real nats-server with the STRATOS_REPAIR stream, real storage nodes
serving gRPC on loopback, and the target's RepairWorker taking jobs from JetStream."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
import zfec
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError
from trust_support import batch_message, job_message, worker_trust

from stratos.common import natsutil
from stratos.common.grpcutil import RunningServer
from stratos.common.hashing import chunk_id
from stratos.common.natsutil import (
    REPAIR_RESULT_WILDCARD,
    REPAIR_STREAM,
    ensure_repair_stream,
)
from stratos.common.procs import async_wait_until, free_port
from stratos.common.testing import NatsProcess, nats_server
from stratos.common.testing_tls import channel_credentials, credentials
from stratos.storage.chunkstore import ChunkStore
from stratos.storage.grpcserver import start_storage_server
from stratos.storage.ratelimit import RateLimiter
from stratos.storage.repair_exec import RepairExecutor
from stratos.storage.repair_fetch import Channels, Puller
from stratos.storage.repair_jobs import Outcome
from stratos.storage.repair_worker import RepairWorker, WorkerSettings, durable_name
from stratos.storage.servicer import StorageService
from stratos.v1 import repair_pb2, types_pb2

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
TARGET = "target"


def zfec_rebuild(
    shares: Mapping[int, bytes], k: int, m: int, wanted: Sequence[int]
) -> dict[int, bytes]:
    """Stand-in for stratos.common.erasure.rebuild, straight on zfec."""
    have = sorted(shares)[:k]
    primary = zfec.Decoder(k, k + m).decode([shares[i] for i in have], have)
    rebuilt = zfec.Encoder(k, k + m).encode(list(primary), list(wanted))
    return {i: bytes(b) for i, b in zip(wanted, rebuilt, strict=True)}


@dataclass
class Node:
    node_id: str
    store: ChunkStore
    running: RunningServer

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.running.port}"

    def source(self) -> repair_pb2.ChunkSource:
        return repair_pb2.ChunkSource(node_id=self.node_id, address=self.address)


async def start_node(root: Path, node_id: str, port: int = 0) -> Node:
    store = ChunkStore(root / node_id, node_id=node_id, capacity_bytes=64 * MIB)
    running = await start_storage_server(
        f"127.0.0.1:{port}",
        StorageService(store, zone="zone-r", tickets=None),
        credentials("storage", "storage"),
    )
    return Node(node_id, store, running)


@dataclass
class Mesh:
    nc: NATS
    target: Node
    sources: list[Node]
    nats: NatsProcess
    results: list[repair_pb2.RepairResult] = field(default_factory=list)

    async def submit(self, job: repair_pb2.RepairJob) -> None:
        subject, payload, headers = job_message(job)
        await self.nc.jetstream().publish(subject, payload, headers=headers)

    async def result_of(self, job_id: str, timeout_s: float = 20) -> repair_pb2.RepairResult:
        async def reported():
            return next((r for r in self.results if r.job_id == job_id), None)

        return await async_wait_until(reported, timeout_s=timeout_s, what=f"result of {job_id}")

    async def queued(self) -> int:
        info = await self.nc.jetstream().stream_info(REPAIR_STREAM)
        return info.state.messages


@asynccontextmanager
async def mesh(tmp_path: Path, n_sources: int = 2, **settings) -> AsyncIterator[Mesh]:
    """nats-server, `n_sources` storage nodes and a target node whose repair worker runs."""
    with nats_server() as ns:
        nc = await nats.connect(ns.url)
        await ensure_repair_stream(nc.jetstream(), replicas=1)
        nodes = [await start_node(tmp_path, f"src-{i}") for i in range(n_sources)]
        target = await start_node(tmp_path, TARGET)
        m = Mesh(nc, target, nodes, ns)

        async def collect(msg) -> None:
            m.results.append(repair_pb2.RepairResult.FromString(msg.data))

        await nc.subscribe(REPAIR_RESULT_WILDCARD, cb=collect)
        channels = Channels(channel_credentials("storage", "storage"))
        executor = RepairExecutor(
            target.store,
            Puller(channels, RateLimiter(0), min_rate_bytes_s=MIB),
            rebuild=zfec_rebuild,
        )
        ws = WorkerSettings(**{"retry_base_delay_s": 0.2, "fetch_wait_s": 0.2, **settings})
        worker_nc = await natsutil.connect(ns.url, name="repair-test")
        stop = asyncio.Event()
        running = asyncio.create_task(
            RepairWorker(executor, TARGET, ws, **worker_trust(TARGET)).run(worker_nc, stop)
        )
        try:
            yield m
        finally:
            stop.set()
            await asyncio.wait_for(running, 15)
            await channels.close()
            await worker_nc.close()
            await nc.close()
            for node in [*m.sources, target]:
                await node.running.stop(0)


def copy_job(job_id: str, cid: str, size: int, sources) -> repair_pb2.RepairJob:
    return repair_pb2.RepairJob(
        job_id=job_id,
        kind=repair_pb2.REPAIR_KIND_COPY,
        file_id="file-1",
        chunk_id=cid,
        size=size,
        target_node_id=TARGET,
        sources=list(sources),
        reason="test",
    )


def dead_source() -> repair_pb2.ChunkSource:
    return repair_pb2.ChunkSource(node_id="dead", address=f"127.0.0.1:{free_port()}")


async def test_copy_job_pulls_the_chunk_acks_and_reports_ok(tmp_path: Path) -> None:
    async with mesh(tmp_path) as m:
        data = os.urandom(3 * MIB + 11)
        cid = chunk_id(data)
        m.sources[0].store.put(cid, data)
        await m.submit(copy_job("copy-1", cid, len(data), [m.sources[0].source()]))
        result = await m.result_of("copy-1")
        assert (result.ok, result.error, result.bytes) == (True, "", len(data))
        assert (result.kind, result.file_id, result.chunk_id, result.node_id) == (
            repair_pb2.REPAIR_KIND_COPY,
            "file-1",
            cid,
            TARGET,
        )
        assert m.target.store.path_of(cid).read_bytes() == data
        assert m.target.store.stat().used_bytes == len(data)
        await async_wait_until(lambda: _is_zero(m.queued()), timeout_s=5, what="acked job")
        info = await m.nc.jetstream().consumer_info(REPAIR_STREAM, durable_name(TARGET))
        assert info.num_ack_pending == 0 and info.num_redelivered == 0

        # The same job again (a retry by the planner) finds the chunk and moves nothing.
        await m.submit(copy_job("copy-1-again", cid, len(data), [m.sources[0].source()]))
        again = await m.result_of("copy-1-again")
        assert (again.ok, again.bytes) == (True, 0)


async def test_copy_with_a_dead_first_source_uses_the_second(tmp_path: Path) -> None:
    async with mesh(tmp_path) as m:
        data = os.urandom(MIB)
        cid = chunk_id(data)
        m.sources[1].store.put(cid, data)
        sources = [dead_source(), m.sources[0].source(), m.sources[1].source()]
        await m.submit(copy_job("copy-2", cid, len(data), sources))
        result = await m.result_of("copy-2")
        assert (result.ok, result.bytes) == (True, len(data))
        assert m.target.store.path_of(cid).read_bytes() == data


async def test_copy_from_a_corrupt_source_fails_for_good_without_retry(tmp_path: Path) -> None:
    async with mesh(tmp_path) as m:
        data = os.urandom(200_000)
        cid = chunk_id(data)
        m.sources[0].store.put(cid, data)
        m.sources[0].store.path_of(cid).write_bytes(b"\0" * len(data))
        await m.submit(copy_job("copy-3", cid, len(data), [m.sources[0].source()]))
        result = await m.result_of("copy-3")
        assert not result.ok and "corrupt" in result.error and result.bytes == 0
        assert await m.queued() == 0
        info = await m.nc.jetstream().consumer_info(REPAIR_STREAM, durable_name(TARGET))
        assert info.num_redelivered == 0
        assert m.target.store.stat().chunk_count == 0


async def test_unreachable_source_is_retried_until_it_answers(tmp_path: Path) -> None:
    async with mesh(tmp_path, n_sources=0) as m:
        port = free_port()
        later = repair_pb2.ChunkSource(node_id="later", address=f"127.0.0.1:{port}")
        data = os.urandom(500_000)
        cid = chunk_id(data)
        await m.submit(copy_job("copy-4", cid, len(data), [later]))

        async def redelivered() -> bool:
            try:
                info = await m.nc.jetstream().consumer_info(REPAIR_STREAM, durable_name(TARGET))
            except NotFoundError:  # the worker has not created its consumer yet
                return False
            return info.num_redelivered >= 1

        await async_wait_until(redelivered, timeout_s=15, what="a nak and redelivery")
        assert m.results == []  # nothing reported while retrying
        node = await start_node(tmp_path, "later", port)
        m.sources.append(node)
        node.store.put(cid, data)
        result = await m.result_of("copy-4")
        assert (result.ok, result.bytes) == (True, len(data))
        assert await m.queued() == 0


async def test_retries_end_after_max_deliver_with_a_failure_report(tmp_path: Path) -> None:
    async with mesh(tmp_path, n_sources=0, max_deliver=2) as m:
        cid = chunk_id(b"never")
        await m.submit(copy_job("copy-5", cid, 5, [dead_source()]))
        result = await m.result_of("copy-5")
        assert not result.ok and result.error.endswith("(gave up after 2 attempts)")
        assert "cannot reach" in result.error
        assert await m.queued() == 0


async def test_delete_job_removes_the_chunk_and_tolerates_absence(tmp_path: Path) -> None:
    async with mesh(tmp_path, n_sources=0) as m:
        cid = chunk_id(b"extra copy")
        m.target.store.put(cid, b"extra copy")
        for job_id in ("del-1", "del-2"):
            await m.submit(
                repair_pb2.RepairJob(
                    job_id=job_id,
                    kind=repair_pb2.REPAIR_KIND_DELETE,
                    chunk_id=cid,
                    size=10,
                    target_node_id=TARGET,
                )
            )
            result = await m.result_of(job_id)
            assert (result.ok, result.kind, result.bytes) == (
                True,
                repair_pb2.REPAIR_KIND_DELETE,
                0,
            )
            assert not m.target.store.path_of(cid).exists()
        assert m.target.store.stat().chunk_count == 0


async def test_a_batch_runs_each_job_reports_each_and_is_acknowledged_once(
    tmp_path: Path,
) -> None:
    async with mesh(tmp_path) as m:
        chunks = [os.urandom(100_000 + i) for i in range(3)]
        for data in chunks:
            m.sources[0].store.put(chunk_id(data), data)
        extra = b"an extra copy"
        m.target.store.put(chunk_id(extra), extra)
        dead = [dead_source()]
        jobs = [
            copy_job(f"b-copy-{i}", chunk_id(d), len(d), [m.sources[0].source()])
            for i, d in enumerate(chunks)
        ]
        jobs.append(copy_job("b-copy-dead", chunk_id(b"nowhere"), 7, dead))
        jobs.append(
            repair_pb2.RepairJob(
                job_id="b-del",
                kind=repair_pb2.REPAIR_KIND_DELETE,
                chunk_id=chunk_id(extra),
                size=len(extra),
                target_node_id=TARGET,
            )
        )
        subject, payload, headers = batch_message(jobs)
        await m.nc.jetstream().publish(subject, payload, headers=headers)
        for i, data in enumerate(chunks):
            result = await m.result_of(f"b-copy-{i}")
            assert (result.ok, result.bytes) == (True, len(data))
            assert m.target.store.path_of(chunk_id(data)).read_bytes() == data
        # a job of a batch is tried once: its failure is reported for the index to plan again
        assert not (await m.result_of("b-copy-dead")).ok
        assert (await m.result_of("b-del")).ok and not m.target.store.path_of(
            chunk_id(extra)
        ).exists()
        await async_wait_until(lambda: _is_zero(m.queued()), timeout_s=10, what="acked batch")
        info = await m.nc.jetstream().consumer_info(REPAIR_STREAM, durable_name(TARGET))
        assert info.num_ack_pending == 0 and info.num_redelivered == 0


async def test_a_batch_not_signed_by_an_index_is_dropped_unrun(tmp_path: Path) -> None:
    async with mesh(tmp_path, n_sources=0) as m:
        keep = b"a copy the attacker wants gone"
        m.target.store.put(chunk_id(keep), keep)
        mallory = "mallory"
        worker_trust(mallory)  # an admitted storage node, not a meta node
        delete = repair_pb2.RepairJob(
            job_id="evil-del",
            kind=repair_pb2.REPAIR_KIND_DELETE,
            chunk_id=chunk_id(keep),
            size=len(keep),
            target_node_id=TARGET,
        )
        subject, payload, headers = batch_message([delete], signer_id=mallory)
        await m.nc.jetstream().publish(subject, payload, headers=headers)
        await async_wait_until(lambda: _is_zero(m.queued()), timeout_s=10, what="dropped batch")
        assert m.target.store.path_of(chunk_id(keep)).read_bytes() == keep
        assert all(r.job_id != "evil-del" for r in m.results)


async def test_reencode_job_rebuilds_a_lost_share(tmp_path: Path) -> None:
    async with mesh(tmp_path) as m:
        k, n = 3, 5
        blocks = [os.urandom(300_000) for _ in range(k)]
        shares = [bytes(s) for s in zfec.Encoder(k, n).encode(blocks)]
        a, b = m.sources
        # Share 1 is lost; share 4 is listed but gone; a lost its copy of share 3, b has one.
        holders = {0: [a], 2: [b], 3: [a, b], 4: [b]}
        a.store.put(chunk_id(shares[0]), shares[0])
        b.store.put(chunk_id(shares[2]), shares[2])
        b.store.put(chunk_id(shares[3]), shares[3])
        job = repair_pb2.RepairJob(
            job_id="re-1",
            kind=repair_pb2.REPAIR_KIND_REENCODE,
            file_id="file-ec",
            chunk_id=chunk_id(shares[1]),
            size=len(shares[1]),
            target_node_id=TARGET,
            erasure=types_pb2.ErasureCode(data_shares=k, parity_shares=n - k),
            share_index=1,
            shares=[
                repair_pb2.ShareSource(
                    index=i, chunk_id=chunk_id(shares[i]), holders=[h.source() for h in hs]
                )
                for i, hs in holders.items()
            ],
            segment_stored_size=k * 300_000,
        )
        await m.submit(job)
        result = await m.result_of("re-1")
        assert (result.ok, result.error, result.bytes) == (True, "", k * len(shares[1]))
        assert m.target.store.path_of(job.chunk_id).read_bytes() == shares[1]
        assert await m.queued() == 0


async def test_worker_takes_jobs_again_after_nats_restarts(tmp_path: Path) -> None:
    async with mesh(tmp_path) as m:
        m.nats.kill()
        m.nats.restart()
        data = os.urandom(100_000)
        cid = chunk_id(data)
        m.sources[0].store.put(cid, data)

        async def submitted() -> bool:
            try:
                await m.submit(copy_job("after-restart", cid, len(data), [m.sources[0].source()]))
            except Exception:  # the test's own connection is still reconnecting
                return False
            return True

        await async_wait_until(submitted, timeout_s=20, what="NATS to accept the job")
        result = await m.result_of("after-restart", timeout_s=30)
        assert (result.ok, result.bytes) == (True, len(data))


async def _is_zero(aw) -> bool:
    return (await aw) == 0


class GatedExecutor:
    """Stands in for RepairExecutor: each job waits for `gate`, then succeeds."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.running = 0
        self.most = 0
        self.seen: list[str] = []

    async def execute(self, job: repair_pb2.RepairJob) -> Outcome:
        self.seen.append(job.job_id)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await self.gate.wait()
        finally:
            self.running -= 1
        return Outcome.done(job.size)


async def test_worker_runs_at_most_its_concurrency_and_hands_jobs_back_on_stop() -> None:
    with nats_server() as ns:
        nc = await nats.connect(ns.url)
        await ensure_repair_stream(nc.jetstream(), replicas=1)
        results: list[repair_pb2.RepairResult] = []

        async def collect(msg) -> None:
            results.append(repair_pb2.RepairResult.FromString(msg.data))

        await nc.subscribe(REPAIR_RESULT_WILDCARD, cb=collect)
        for i in range(5):
            job = copy_job(f"gated-{i}", chunk_id(b"%d" % i), 7, [dead_source()])
            subject, payload, headers = job_message(job)
            await nc.jetstream().publish(subject, payload, headers=headers)
        ws = WorkerSettings(concurrency=2, fetch_wait_s=0.2, stop_grace_s=0.1)
        first = GatedExecutor()
        stop = asyncio.Event()
        run = asyncio.create_task(
            RepairWorker(first, TARGET, ws, **worker_trust(TARGET)).run(nc, stop)
        )  # type: ignore[arg-type]
        await async_wait_until(_now(lambda: first.running == 2), timeout_s=10, what="2 jobs")
        stop.set()  # as on SIGTERM: the two running jobs are nak'd, not left to ack_wait (30 s)
        await asyncio.wait_for(run, 10)
        assert first.most == 2 and results == []

        second = GatedExecutor()
        second.gate.set()
        stop = asyncio.Event()
        run = asyncio.create_task(
            RepairWorker(second, TARGET, ws, **worker_trust(TARGET)).run(nc, stop)
        )  # type: ignore[arg-type]
        try:
            await async_wait_until(_now(lambda: len(results) == 5), timeout_s=10, what="5 results")
        finally:
            stop.set()
            await asyncio.wait_for(run, 10)
        assert sorted(r.job_id for r in results) == [f"gated-{i}" for i in range(5)]
        assert all(r.ok and r.bytes == 7 for r in results)
        assert second.most <= 2
        assert set(first.seen) <= set(second.seen)  # the handed-back jobs came round again
        assert (await nc.jetstream().stream_info(REPAIR_STREAM)).state.messages == 0
        await nc.close()


def _now(fn):
    async def call():
        return fn()

    return call
