"""The auditor against a real nats-server and real storage nodes (gRPC servers over chunk stores
on disk): honest copies pass, copies altered, deleted or lied about fail, are reported on
stratos.audit.results and are written off so repair re-creates them; a stopped node is only
reported unreachable."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from index_support import SEGMENT, index_trust, new_file_id, sealed_name, sign

from stratos.common import natsutil
from stratos.common.grpcutil import RunningServer
from stratos.common.hashing import chunk_id
from stratos.common.identity import Identity
from stratos.common.procs import async_wait_until
from stratos.common.testing_tls import channel_credentials, credentials
from stratos.index.audit_rules import (
    CHUNK_CORRUPT,
    CHUNK_MISSING,
    UNREACHABLE,
    WRONG_DIGEST,
    Target,
)
from stratos.index.auditor import Auditor
from stratos.index.catalog import Catalog
from stratos.index.config import IndexSettings
from stratos.index.locations import LocationStore
from stratos.index.manifests import ManifestStore, now_ms
from stratos.index.pieces import holders
from stratos.index.registry import Registry
from stratos.index.repair_loop import RepairLoop
from stratos.index.repair_plan import COPY
from stratos.storage.chunkstore import ChunkStore
from stratos.storage.grpcserver import start_storage_server
from stratos.storage.servicer import StorageService
from stratos.v1 import events_pb2, storage_pb2, types_pb2

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
TAG = 16


class LyingStorage(StorageService):
    """Keeps its chunks but answers audits without reading them."""

    async def Audit(self, request, context):
        return storage_pb2.AuditResponse(digest=os.urandom(32))


@dataclass
class Node:
    node_id: str
    store: ChunkStore
    server: RunningServer

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"


@dataclass
class Mesh:
    nodes: dict[str, Node]
    loop: RepairLoop
    auditor: Auditor
    locations: LocationStore
    published: list[events_pb2.AuditResult] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)

    async def put_file(self, data: bytes, on: list[str]) -> tuple[str, str]:
        """Store `data` as one chunk on the nodes `on`, commit its manifest, and let the repair
        loop see it. Returns (file ID, chunk ID)."""
        cid = chunk_id(data)
        for n in on:
            self.nodes[n].store.put(cid, data)
        file_id = new_file_id()
        plain = len(data) - TAG
        m = types_pb2.Manifest(
            file_id=file_id,
            metadata=sealed_name(file_id, "audited.bin"),
            size=plain,
            segment_size=max(plain, SEGMENT),  # one segment, maybe shorter than a full one
            replicas=len(on),
            cipher=types_pb2.CIPHER_AES_256_GCM,
            created_unix_ms=now_ms(),
            segments=[
                types_pb2.Segment(
                    index=0, chunk_id=cid, plain_size=plain, stored_size=len(data), node_ids=on
                )
            ],
        )
        store = await ManifestStore.open(self.loop._js, replicas=1)
        await store.commit(sign(Identity.generate(), m))
        self.sizes[cid] = len(data)
        await self.loop.run_once()
        return file_id, cid

    async def holders_of(self, file_id: str, cid: str) -> list[str]:
        manifest = next(f.manifest for f in self.loop.views() if f.manifest.file_id == file_id)
        return holders(manifest, await self.locations.get(file_id))[cid]

    async def audit(
        self, file_id: str, cid: str, node: str, *others: str
    ) -> list[events_pb2.AuditResult]:
        """Challenge one copy, learning the answer from `others` (tried in a random order)."""
        views = self.loop.nodes
        return await self.auditor.audit(Target(file_id, cid, self.sizes[cid], node, others), views)

    async def published_for(self, node: str, count: int = 1) -> list[events_pb2.AuditResult]:
        async def arrived() -> list[events_pb2.AuditResult] | None:
            got = [r for r in self.published if r.node_id == node]
            return got if len(got) >= count else None

        return await async_wait_until(arrived, timeout_s=10, what=f"audit results for {node}")


def heartbeat(node: Node) -> events_pb2.Heartbeat:
    return events_pb2.Heartbeat(
        node=types_pb2.NodeInfo(
            node_id=node.node_id,
            address=node.address,
            zone="z1",
            capacity_bytes=node.store.capacity_bytes,
            used_bytes=0,
            version="test",
        ),
        sent_unix_ms=now_ms(),
    )


@asynccontextmanager
async def mesh(
    nats_url: str, root: Path, liars: tuple[str, ...] = (), **overrides
) -> AsyncIterator[Mesh]:
    """Three storage nodes s1..s3, a repair loop and an auditor run by the test (run_once)."""
    nodes: dict[str, Node] = {}
    registry = Registry(60.0, 120.0)
    settings = IndexSettings(nats_url=nats_url, **overrides)
    nc = await natsutil.connect(nats_url, name="test-auditor", connect_deadline_s=10)
    listener = await natsutil.connect(nats_url, name="test-audit-listener", connect_deadline_s=10)
    loop = auditor = catalog = None
    try:
        for i in (1, 2, 3):
            node_id = f"s{i}"
            store = ChunkStore(root / node_id, node_id=node_id, capacity_bytes=64 * MIB)
            servicer = (LyingStorage if node_id in liars else StorageService)(
                store, zone="z1", tickets=None
            )
            nodes[node_id] = Node(
                node_id,
                store,
                await start_storage_server(
                    "127.0.0.1:0", servicer, credentials("storage", "storage")
                ),
            )
            registry.observe(heartbeat(nodes[node_id]))
        catalog = Catalog(nc.jetstream(), replicas=1)
        await catalog.start()
        loop = RepairLoop(nc, registry, settings, catalog=catalog, **index_trust())
        await loop.start(run=False)
        auditor = Auditor(
            nc,
            settings,
            catalog,
            lambda: loop.nodes,
            credentials=channel_credentials("index", "index"),
            rng=random.Random(1),
            signer=index_trust()["signer"],
        )
        await auditor.start(run=False)
        m = Mesh(nodes, loop, auditor, await LocationStore.open(nc.jetstream(), replicas=1))

        async def collect(msg) -> None:
            m.published.append(events_pb2.AuditResult.FromString(msg.data))

        await listener.subscribe(natsutil.AUDIT_RESULT_SUBJECT, cb=collect)
        await listener.flush()
        yield m
    finally:
        if auditor is not None:
            await auditor.stop()
        if loop is not None:
            await loop.stop()
        if catalog is not None:
            await catalog.stop()
        for n in nodes.values():
            await n.server.stop(0)
        await listener.close()
        await nc.close()


def alter_one_byte(store: ChunkStore, cid: str, at: int) -> None:
    """Flip one bit of the stored copy, as a failing disk would, behind the node's back."""
    with open(store.path_of(cid), "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 0x01]))


async def repair_wanted(m: Mesh, cid: str) -> tuple[int, list[str]]:
    """After a repair round: bytes the loop counts as missing, and the targets of the copies
    of `cid` planned or in flight (a rebalance copy planned earlier may already be one)."""
    plan = await m.loop.run_once()
    jobs = plan.jobs + m.loop.outstanding.jobs()
    copies = sorted({j.target_node_id for j in jobs if j.chunk_id == cid and j.kind == COPY})
    return m.loop.health.bytes_to_repair, copies


async def test_honest_nodes_pass_and_each_challenge_is_published(nats, tmp_path) -> None:
    async with mesh(nats.url, tmp_path) as m:
        file_id, cid = await m.put_file(os.urandom(3 * MIB + 100), on=["s1", "s2"])
        results = await m.auditor.run_once()
        assert sorted((r.node_id, r.passed, r.reason) for r in results) == [
            ("s1", True, ""),
            ("s2", True, ""),
        ]
        for node in ("s1", "s2"):
            (published,) = await m.published_for(node)
            assert published.passed and published.chunk_id == cid
            assert published.file_id == file_id and published.checked_unix_ms > 0
        assert sorted(await m.holders_of(file_id, cid)) == ["s1", "s2"]
        assert (await repair_wanted(m, cid))[0] == 0


async def test_a_chunk_altered_on_disk_fails_its_audit_and_repair_re_creates_it(
    nats, tmp_path
) -> None:
    async with mesh(nats.url, tmp_path) as m:
        data = os.urandom(2 * MIB + 7)
        file_id, cid = await m.put_file(data, on=["s1", "s2"])
        alter_one_byte(m.nodes["s1"].store, cid, at=len(data) // 2)
        (result,) = await m.audit(file_id, cid, "s1", "s2")
        assert (result.node_id, result.passed, result.reason) == ("s1", False, CHUNK_CORRUPT)
        (published,) = await m.published_for("s1")
        assert not published.passed and published.reason == CHUNK_CORRUPT
        assert await m.holders_of(file_id, cid) == ["s2"]
        missing, copies = await repair_wanted(m, cid)
        assert missing == len(data) and copies, "repair does not re-create the copy"
        # The honest holder still passes.
        (again,) = await m.audit(file_id, cid, "s2")
        assert again.passed


async def test_a_deleted_chunk_file_is_reported_missing_and_written_off(nats, tmp_path) -> None:
    async with mesh(nats.url, tmp_path) as m:
        file_id, cid = await m.put_file(os.urandom(100_000), on=["s2", "s3"])
        m.nodes["s3"].store.path_of(cid).unlink()
        (result,) = await m.audit(file_id, cid, "s3", "s2")
        assert (result.passed, result.reason) == (False, CHUNK_MISSING)
        (published,) = await m.published_for("s3")
        assert published.reason == CHUNK_MISSING
        assert await m.holders_of(file_id, cid) == ["s2"]
        missing, copies = await repair_wanted(m, cid)
        assert missing == 100_000 and copies


async def test_a_node_answering_a_wrong_digest_is_written_off(nats, tmp_path) -> None:
    async with mesh(nats.url, tmp_path, liars=("s1",)) as m:
        file_id, cid = await m.put_file(os.urandom(500_000), on=["s1", "s3"])
        (result,) = await m.audit(file_id, cid, "s1", "s3")
        assert (result.passed, result.reason) == (False, WRONG_DIGEST)
        assert await m.holders_of(file_id, cid) == ["s3"]


async def test_a_stopped_node_is_reported_unreachable_and_triggers_no_repair(
    nats, tmp_path
) -> None:
    async with mesh(nats.url, tmp_path) as m:
        file_id, cid = await m.put_file(os.urandom(200_000), on=["s1", "s2"])
        await m.nodes["s1"].server.stop(0)
        (result,) = await m.audit(file_id, cid, "s1", "s2")
        assert (result.passed, result.reason) == (False, UNREACHABLE)
        (published,) = await m.published_for("s1")
        assert published.reason == UNREACHABLE
        assert sorted(await m.holders_of(file_id, cid)) == ["s1", "s2"]
        assert (await repair_wanted(m, cid))[0] == 0
        # The stopped node is also no source: the other copy is audited by reading it whole.
        (other,) = await m.audit(file_id, cid, "s2", "s1")
        assert other.passed and other.node_id == "s2"


async def test_a_bad_source_copy_fails_its_own_audit(nats, tmp_path) -> None:
    async with mesh(nats.url, tmp_path) as m:
        data = os.urandom(300_000)
        file_id, cid = await m.put_file(data, on=["s1", "s2"])
        alter_one_byte(m.nodes["s2"].store, cid, at=0)
        results = await m.audit(file_id, cid, "s1", "s2")
        assert [(r.node_id, r.passed, r.reason) for r in results] == [
            ("s2", False, CHUNK_CORRUPT),
            ("s1", True, ""),
        ]
        assert await m.holders_of(file_id, cid) == ["s1"]


async def test_a_single_holder_is_audited_by_reading_its_copy(nats, tmp_path) -> None:
    async with mesh(nats.url, tmp_path) as m:
        data = os.urandom(1 * MIB)
        file_id, cid = await m.put_file(data, on=["s3"])
        (ok,) = await m.auditor.run_once()
        assert (ok.node_id, ok.passed) == ("s3", True)
        alter_one_byte(m.nodes["s3"].store, cid, at=len(data) - 1)
        (bad,) = await m.auditor.run_once()
        assert (bad.node_id, bad.passed, bad.reason) == ("s3", False, CHUNK_CORRUPT)
        assert await m.holders_of(file_id, cid) == []


async def test_audit_rounds_run_on_their_own_until_stopped(nats, tmp_path) -> None:
    async with mesh(nats.url, tmp_path, audit_interval_s=0.1) as m:
        await m.put_file(os.urandom(10_000), on=["s1", "s2", "s3"])
        await m.auditor.start()
        for node in ("s1", "s2", "s3"):
            await m.published_for(node, count=2)
        await m.auditor.stop()
        running = {t.get_coro().__qualname__ for t in asyncio.all_tasks()}
        assert "Auditor._run" not in running


async def test_zero_audits_per_round_disables_the_auditor(nats, tmp_path) -> None:
    async with mesh(nats.url, tmp_path, audits_per_round=0) as m:
        await m.put_file(os.urandom(10_000), on=["s1", "s2"])
        await m.auditor.start()
        running = {t.get_coro().__qualname__ for t in asyncio.all_tasks()}
        assert "Auditor._run" not in running
        assert await m.auditor.run_once() == [] and m.published == []
