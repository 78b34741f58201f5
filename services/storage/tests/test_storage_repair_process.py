"""Repair across real `stratos-storage` processes: jobs published on JetStream, a target that
is killed mid-transfer and restarted, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nats
import pytest
from trust_support import job_message, mesh

from stratos.common.grpcutil import channel, check_health
from stratos.common.hashing import chunk_id
from stratos.common.natsutil import (
    REPAIR_RESULT_WILDCARD,
    REPAIR_STREAM,
    ensure_repair_stream,
)
from stratos.common.procs import async_wait_until, free_port
from stratos.common.testing import nats_server
from stratos.common.testing_tls import cert_files, channel_credentials
from stratos.storage.repair_worker import durable_name
from stratos.v1 import repair_pb2, storage_pb2, storage_pb2_grpc

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


class StorageProc:
    """One stratos-storage process with a fixed port and data dir, restartable."""

    def __init__(self, root: Path, node_id: str, nats_url: str) -> None:
        self.node_id = node_id
        self.dir = root / node_id
        self.dir.mkdir()
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir()
        mesh().storage(node_id, self.data_dir)  # admitted with its own key, as the launcher does
        self.address = f"127.0.0.1:{free_port()}"
        self.nats_url = nats_url
        self.proc: subprocess.Popen | None = None
        self.runs = 0

    def start(self, **env: str) -> None:
        self.runs += 1
        full_env = {
            **os.environ,
            "STRATOS_NODE_ID": self.node_id,
            "STRATOS_DATA_DIR": str(self.data_dir),
            "STRATOS_CAPACITY_BYTES": str(64 * MIB),
            "STRATOS_GRPC_ADDRESS": self.address,
            **cert_files("storage", "storage").env(),
            "STRATOS_NATS_URL": self.nats_url,
            "STRATOS_HEARTBEAT_INTERVAL_S": "0.5",
            **env,
        }
        with (
            open(self.dir / f"stdout.{self.runs}", "wb") as out,
            open(self.dir / f"stderr.{self.runs}", "wb") as err,
        ):
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stratos.storage"], env=full_env, stdout=out, stderr=err
            )

    async def healthy(self) -> None:
        async def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "stratos-storage exited"
            return await check_health(self.address, channel_credentials(), timeout_s=1)

        await async_wait_until(up, timeout_s=30, what=f"{self.node_id} to be healthy")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(10)

    def source(self) -> repair_pb2.ChunkSource:
        return repair_pb2.ChunkSource(node_id=self.node_id, address=self.address)

    def log_entries(self, run: int) -> list[dict]:
        lines = (self.dir / f"stdout.{run}").read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@contextmanager
def two_nodes(tmp_path: Path) -> Iterator[tuple[str, StorageProc, StorageProc]]:
    with nats_server() as ns:
        source = StorageProc(tmp_path, "proc-src", ns.url)
        target = StorageProc(tmp_path, "proc-dst", ns.url)
        try:
            yield ns.url, source, target
        finally:
            source.kill()
            target.kill()


async def put(node: StorageProc, data: bytes) -> str:
    """PutChunk as the admitted index may (its own ticket for the node)."""
    cid = chunk_id(data)
    async with channel(node.address, channel_credentials()) as ch:
        stub = storage_pb2_grpc.StorageServiceStub(ch)
        header = storage_pb2.PutChunkHeader(chunk_id=cid, size=len(data))
        proof = mesh().bearer(node.node_id).prove("PutChunk", node.node_id, cid, str(len(data)))
        header.auth.CopyFrom(proof)
        reqs = [storage_pb2.PutChunkRequest(header=header)] + [
            storage_pb2.PutChunkRequest(data=data[i : i + MIB]) for i in range(0, len(data), MIB)
        ]
        await stub.PutChunk(iter(reqs))
    return cid


async def get(node: StorageProc, cid: str) -> bytes:
    request = storage_pb2.GetChunkRequest(chunk_id=cid)
    bearer = mesh().bearer(node.node_id)
    request.auth.CopyFrom(bearer.prove("GetChunk", node.node_id, cid, "0", "0"))
    async with channel(node.address, channel_credentials()) as ch:
        stub = storage_pb2_grpc.StorageServiceStub(ch)
        parts = [m.data async for m in stub.GetChunk(request)]
    return b"".join(parts)


async def stat(address: str) -> storage_pb2.StatResponse:
    async with channel(address, channel_credentials()) as ch:
        return await storage_pb2_grpc.StorageServiceStub(ch).Stat(storage_pb2.StatRequest())


class Bus:
    """A test's NATS connection: publishes jobs, collects every RepairResult."""

    def __init__(self, nc: nats.NATS) -> None:
        self.nc = nc
        self.results: list[repair_pb2.RepairResult] = []

    @classmethod
    async def open(cls, url: str) -> Bus:
        bus = cls(await nats.connect(url))
        await ensure_repair_stream(bus.nc.jetstream(), replicas=1)

        async def collect(msg) -> None:
            bus.results.append(repair_pb2.RepairResult.FromString(msg.data))

        await bus.nc.subscribe(REPAIR_RESULT_WILDCARD, cb=collect)
        return bus

    async def submit(self, job: repair_pb2.RepairJob) -> None:
        subject, payload, headers = job_message(job)
        await self.nc.jetstream().publish(subject, payload, headers=headers)

    async def results_of(self, job_id: str, timeout_s: float = 30) -> list:
        async def some() -> list:
            return [r for r in self.results if r.job_id == job_id]

        return await async_wait_until(some, timeout_s=timeout_s, what=f"result of {job_id}")

    async def queued(self) -> int:
        return (await self.nc.jetstream().stream_info(REPAIR_STREAM)).state.messages


def copy_job(
    job_id: str, cid: str, size: int, target: StorageProc, *sources
) -> repair_pb2.RepairJob:
    return repair_pb2.RepairJob(
        job_id=job_id,
        kind=repair_pb2.REPAIR_KIND_COPY,
        chunk_id=cid,
        size=size,
        target_node_id=target.node_id,
        sources=[s.source() for s in sources],
    )


async def test_node_process_repairs_a_chunk_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with two_nodes(tmp_path) as (url, source, target):
        source.start()
        target.start()
        await asyncio.gather(source.healthy(), target.healthy())
        bus = await Bus.open(url)
        try:
            data = os.urandom(3 * MIB + 1)
            cid = await put(source, data)
            await bus.submit(copy_job("p-copy", cid, len(data), target, source))
            [result] = await bus.results_of("p-copy")
            assert (result.ok, result.bytes, result.node_id) == (True, len(data), "proc-dst")
            assert await get(target, cid) == data
            assert await bus.queued() == 0
        finally:
            await bus.nc.close()
        assert target.proc is not None
        target.proc.send_signal(signal.SIGTERM)
        assert target.proc.wait(15) == 0
    events = [e["event"] for e in target.log_entries(1)]
    assert "repair_consumer_ready" in events and "repair_done" in events and "stopped" in events
    assert "Traceback" not in (target.dir / "stderr.1").read_text()


async def test_job_of_a_node_killed_mid_transfer_is_redelivered_and_done_once(
    tmp_path: Path,
) -> None:
    with two_nodes(tmp_path) as (url, source, target):
        source.start()
        # Slow repairs (1 MiB/s) so the kill lands mid-transfer; short ack_wait for redelivery.
        target.start(STRATOS_REPAIR_RATE_BYTES_S=str(MIB), STRATOS_REPAIR_ACK_WAIT_S="2")
        await asyncio.gather(source.healthy(), target.healthy())
        bus = await Bus.open(url)
        try:
            data = os.urandom(8 * MIB)
            cid = await put(source, data)
            await bus.submit(copy_job("p-kill", cid, len(data), target, source))

            tmp_dir = target.data_dir / "tmp"

            def receiving() -> bool:
                return any(p.stat().st_size > 0 for p in tmp_dir.glob("*.part"))

            await async_wait_until(_sync(receiving), timeout_s=20, what="the transfer to start")
            target.kill()
            assert bus.results == []
            assert await bus.queued() == 1  # not acknowledged: still in the work queue

            target.start(STRATOS_REPAIR_ACK_WAIT_S="2")
            await target.healthy()
            [result] = await bus.results_of("p-kill")
            assert (result.ok, result.bytes) == (True, len(data))
            assert await get(target, cid) == data
            # Acked and gone: nothing is left that could be delivered (and reported) again.
            assert await bus.queued() == 0
            info = await bus.nc.jetstream().consumer_info(REPAIR_STREAM, durable_name("proc-dst"))
            assert info.num_ack_pending == 0
            # The restarted node did it on the second delivery of the same message.
            [done] = [e for e in target.log_entries(2) if e["event"] == "repair_done"]
            assert (done["job_id"], done["attempt"]) == ("p-kill", 2)
            assert [r.job_id for r in bus.results] == ["p-kill"]
            st = await stat(target.address)
            assert (st.chunk_count, st.used_bytes) == (1, len(data))
            assert list(tmp_dir.iterdir()) == []  # the killed write left nothing behind
        finally:
            await bus.nc.close()


def _sync(fn):
    async def call():
        return fn()

    return call
