"""Cleanup end to end across real processes: nats-server, three `stratos-storage` nodes and
`python -m stratos.index` with short intervals and a short grace (through STRATOS_* variables).

Writers are played by the test the way the SDK writes: PlaceChunks, PutChunk to the targets,
CommitManifest. Chunk files are checked on the nodes' disks."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import index_support
import nats as nats_py
import pytest
from index_support import SEGMENT, delete_request, new_file_id, sealed_name, sign

from stratos.common.grpcutil import channel, check_health
from stratos.common.hashing import chunk_id
from stratos.common.identity import Identity
from stratos.common.natsutil import MANIFEST_BUCKET, ensure_kv
from stratos.common.procs import async_wait_until, env_with, free_port
from stratos.common.testing_tls import cert_files, channel_credentials
from stratos.index.manifests import now_ms
from stratos.index.reservations import ReservationStore
from stratos.v1 import index_pb2, index_pb2_grpc, storage_pb2, storage_pb2_grpc, types_pb2

pytestmark = pytest.mark.integration

NODES = ("c1", "c2", "c3")
GRACE_S = 6.0
# For tests where only DELETE jobs may remove chunks: orphan GC cannot take anything this young,
# so how long the jobs take on a busy machine does not matter.
NO_GC_GRACE = {"STRATOS_GC_GRACE_S": "3600"}


@dataclass
class Node:
    node_id: str
    address: str
    data_dir: Path

    def has(self, cid: str) -> bool:
        return (self.data_dir / "chunks" / cid[:2] / cid).is_file()


@dataclass
class Mesh:
    nodes: dict[str, Node]
    index: index_pb2_grpc.IndexServiceStub
    owner: Identity
    index_log: Path

    def index_logged(self, event: str) -> list[dict]:
        """The index's log lines for `event`, parsed."""
        lines = self.index_log.read_text().splitlines()
        return [
            e for e in (json.loads(x) for x in lines if x.startswith("{")) if e["event"] == event
        ]

    def holding(self, cid: str) -> set[str]:
        return {n.node_id for n in self.nodes.values() if n.has(cid)}


@contextmanager
def spawn(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait(10)


@asynccontextmanager
async def running_mesh(nats_url: str, root: Path, **index_env: str) -> AsyncIterator[Mesh]:
    with ExitStack() as stack:
        nodes = {}
        for node_id in NODES:
            address = f"127.0.0.1:{free_port()}"
            index_support.mesh().storage(node_id, root / node_id)  # admitted, as the launcher does
            env = env_with(
                STRATOS_NODE_ID=node_id,
                STRATOS_DATA_DIR=str(root / node_id),
                STRATOS_CAPACITY_BYTES=str(64 << 20),
                STRATOS_GRPC_ADDRESS=address,
                **cert_files("storage", "storage").env(),
                STRATOS_NATS_URL=nats_url,
                STRATOS_HEARTBEAT_INTERVAL_S="0.5",
            )
            stack.enter_context(
                spawn([sys.executable, "-m", "stratos.storage"], env, root / f"{node_id}.log")
            )
            nodes[node_id] = Node(node_id, address, root / node_id)
        index_address = f"127.0.0.1:{free_port()}"
        settings = {
            "STRATOS_NATS_URL": nats_url,
            "STRATOS_GRPC_ADDRESS": index_address,
            **cert_files("storage", "storage").env(),
            "STRATOS_REPAIR_INTERVAL_S": "0.5",
            "STRATOS_AUDITS_PER_ROUND": "0",
            "STRATOS_GC_INTERVAL_S": "0.5",
            "STRATOS_GC_GRACE_S": str(GRACE_S),
            "STRATOS_EXPIRY_INTERVAL_S": "0.5",
        }
        env = env_with(**{**settings, **index_env})
        stack.enter_context(spawn([sys.executable, "-m", "stratos.index"], env, root / "index.log"))
        await async_wait_until(
            lambda: check_health(index_address, channel_credentials(), timeout_s=1),
            timeout_s=30,
            what="the index",
        )
        async with channel(index_address, channel_credentials()) as ch:
            stub = index_pb2_grpc.IndexServiceStub(ch)

            async def all_live() -> bool:
                resp = await stub.ListNodes(index_pb2.ListNodesRequest(), timeout=5)
                live = {n.info.node_id for n in resp.nodes if n.state == types_pb2.NODE_STATE_LIVE}
                return live >= set(NODES)

            await async_wait_until(all_live, timeout_s=30, what="every storage node live")
            yield Mesh(nodes, stub, Identity.generate(), root / "index.log")


async def put_chunk(node_id: str, address: str, data: bytes) -> str:
    """PutChunk under a ticket of the admitted index (as the writer's ticket from PlaceChunks
    would allow it; these tests are about what GC does with the chunk, not who may write it)."""
    cid = chunk_id(data)
    header = storage_pb2.PutChunkHeader(chunk_id=cid, size=len(data))
    proof = index_support.mesh().bearer(node_id).prove("PutChunk", node_id, cid, str(len(data)))
    header.auth.CopyFrom(proof)
    reqs = [storage_pb2.PutChunkRequest(header=header), storage_pb2.PutChunkRequest(data=data)]
    async with channel(address, channel_credentials()) as ch:
        await storage_pb2_grpc.StorageServiceStub(ch).PutChunk(iter(reqs), timeout=30)
    return cid


async def upload(mesh: Mesh, pieces: list[bytes], replicas: int = 2) -> list[types_pb2.Segment]:
    """PlaceChunks and PutChunk, as a writer does before it commits; returns the segments."""
    segments = []
    for index, data in enumerate(pieces):
        cid = chunk_id(data)
        placed = await mesh.index.PlaceChunks(
            index_pb2.PlaceChunksRequest(
                chunks=[index_pb2.ChunkToPlace(chunk_id=cid, size=len(data))], replicas=replicas
            ),
            timeout=10,
        )
        targets = placed.placements[0].targets
        for t in targets:
            await put_chunk(t.node_id, t.address, data)
        segments.append(
            types_pb2.Segment(
                index=index,
                chunk_id=cid,
                plain_size=len(data) - 16,
                stored_size=len(data),
                node_ids=[t.node_id for t in targets],
            )
        )
    return segments


def manifest_of(
    segments: list[types_pb2.Segment], *, expires_unix_ms: int = 0, replicas: int = 2
) -> types_pb2.Manifest:
    size = sum(s.plain_size for s in segments)
    file_id = new_file_id()
    return types_pb2.Manifest(
        file_id=file_id,
        metadata=sealed_name(file_id, "cleanup.bin"),
        size=size,
        segment_size=max(s.plain_size for s in segments),
        replicas=replicas,
        cipher=types_pb2.CIPHER_AES_256_GCM,
        created_unix_ms=now_ms(),
        segments=segments,
        expires_unix_ms=expires_unix_ms,
    )


async def commit(mesh: Mesh, m: types_pb2.Manifest) -> None:
    await mesh.index.CommitManifest(
        index_pb2.CommitManifestRequest(signed=sign(mesh.owner, m)), timeout=30
    )


async def listed(mesh: Mesh) -> set[str]:
    resp = await mesh.index.ListFiles(index_pb2.ListFilesRequest(), timeout=10)
    return {f.file_id for f in resp.files}


def on_disk(check):
    """A disk check as the async predicate async_wait_until polls."""

    async def predicate() -> bool:
        return check()

    return predicate


def piece(n: int = SEGMENT + 16) -> bytes:
    """The stored bytes of one full segment of the smallest size the index accepts."""
    return os.urandom(n)


async def _async(value):
    return value


async def _sleep_until(monotonic_s: float) -> None:
    """For what the grace decides: wait until this much of it has passed (at once if it has)."""
    await asyncio.sleep(max(0.0, monotonic_s - time.monotonic()))


async def test_an_expired_file_vanishes_from_listings_and_its_chunks_from_the_disks(
    nats, tmp_path
) -> None:
    async with running_mesh(nats.url, tmp_path, **NO_GC_GRACE) as mesh:
        keeper = manifest_of(await upload(mesh, [piece()]))
        await commit(mesh, keeper)
        segments = await upload(mesh, [piece(), piece()])
        # Only a commit and a listing between now and the expiry, however slow the machine.
        m = manifest_of(segments, expires_unix_ms=now_ms() + 3000)
        await commit(mesh, m)
        assert await listed(mesh) == {m.file_id, keeper.file_id}
        for s in segments:
            assert mesh.holding(s.chunk_id) == set(s.node_ids)

        async def hidden() -> bool:
            return m.file_id not in await listed(mesh)

        await async_wait_until(hidden, timeout_s=30, what="the expired file to leave ListFiles")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await mesh.index.GetManifest(index_pb2.GetManifestRequest(file_id=m.file_id))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert err.value.details() in (
            f"no file with ID {m.file_id}",  # the sweep already removed it
            f"file {m.file_id} expired at "
            + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(m.expires_unix_ms / 1000)),
        )
        await async_wait_until(
            on_disk(lambda: all(not mesh.holding(s.chunk_id) for s in segments)),
            # the sweep's DELETE jobs did it: orphan GC takes nothing this young here
            timeout_s=30,
            what="the expired file's chunks to leave every node",
        )
        assert await listed(mesh) == {keeper.file_id}
        assert mesh.holding(keeper.segments[0].chunk_id) == set(keeper.segments[0].node_ids)


async def test_a_manifest_already_expired_is_refused_at_commit(nats, tmp_path) -> None:
    async with running_mesh(nats.url, tmp_path) as mesh:
        m = manifest_of(await upload(mesh, [piece()]), expires_unix_ms=now_ms() - 1)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await commit(mesh, m)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "has already passed" in err.value.details()
        assert "\n" not in err.value.details()


async def test_a_deleted_files_chunks_are_collected_but_a_shared_chunk_stays(
    nats, tmp_path
) -> None:
    async with running_mesh(nats.url, tmp_path, **NO_GC_GRACE) as mesh:
        own, shared = piece(), piece()
        doomed = manifest_of(await upload(mesh, [own, shared]))
        await commit(mesh, doomed)
        other = manifest_of(await upload(mesh, [shared]))
        await commit(mesh, other)
        own_seg, shared_seg = doomed.segments
        assert mesh.holding(own_seg.chunk_id) and mesh.holding(shared_seg.chunk_id)

        await mesh.index.DeleteFile(delete_request(mesh.owner, doomed.file_id), timeout=10)
        await async_wait_until(
            on_disk(lambda: not mesh.holding(own_seg.chunk_id)),
            # DeleteFile's DELETE jobs did it: orphan GC takes nothing this young here
            timeout_s=30,
            what="the deleted file's own chunk to leave every node",
        )
        # The index sent DELETE jobs for the own chunk's copies only, and kept the shared one.
        (collected,) = await async_wait_until(
            lambda: _async(mesh.index_logged("file_chunks_collected")),
            timeout_s=30,
            what="the index to log what it collected",
        )
        assert collected["file_id"] == doomed.file_id
        assert (collected["jobs"], collected["shared_kept"]) == (len(own_seg.node_ids), 1)
        assert mesh.holding(shared_seg.chunk_id) >= set(other.segments[0].node_ids)
        got = await mesh.index.GetManifest(index_pb2.GetManifestRequest(file_id=other.file_id))
        assert got.signed.manifest == sign(mesh.owner, other).manifest


async def test_an_orphan_chunk_is_collected_after_the_grace(nats, tmp_path) -> None:
    async with running_mesh(nats.url, tmp_path) as mesh:
        node = mesh.nodes["c2"]
        stored_at = time.monotonic()
        cid = await put_chunk(node.node_id, node.address, piece())  # a failed upload's leftover
        # Watched through the first half of the grace (GC runs every 0.5 s); a slow machine
        # shortens the watch, never fails it.
        while time.monotonic() - stored_at < GRACE_S / 2:
            assert node.has(cid), "collected before the grace"
            await asyncio.sleep(0.1)
        await async_wait_until(
            on_disk(lambda: not node.has(cid)),
            timeout_s=GRACE_S + 15,
            what="the orphan to be collected",
        )
        assert time.monotonic() - stored_at > GRACE_S


async def test_an_upload_in_flight_within_the_grace_is_not_collected_and_commits(
    nats, tmp_path
) -> None:
    grace_s = 2 * GRACE_S  # the commit must land within it, however slow the machine
    async with running_mesh(nats.url, tmp_path, STRATOS_GC_GRACE_S=str(grace_s)) as mesh:
        placed_at = time.monotonic()
        segments = await upload(mesh, [piece(), piece()])
        # Many GC rounds (0.5 s each) pass before the commit, all within the grace.
        await _sleep_until(placed_at + grace_s / 3)
        for s in segments:
            assert mesh.holding(s.chunk_id) == set(s.node_ids)
        m = manifest_of(segments)
        await commit(mesh, m)
        # Past the grace now, and some GC rounds: committed chunks are referenced, never orphans.
        await _sleep_until(placed_at + grace_s + 2)
        for s in segments:
            assert mesh.holding(s.chunk_id) == set(s.node_ids)
        assert m.file_id in await listed(mesh)


async def test_a_commit_after_the_grace_is_refused_once_gc_took_its_chunks(nats, tmp_path) -> None:
    async with running_mesh(nats.url, tmp_path) as mesh:
        segments = await upload(mesh, [piece()])
        cid = segments[0].chunk_id
        await async_wait_until(
            on_disk(lambda: not mesh.holding(cid)),
            timeout_s=GRACE_S + 15,
            what="GC to collect the chunks of the stalled upload",
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await commit(mesh, manifest_of(segments))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        node = sorted(segments[0].node_ids)[0]
        assert err.value.details().startswith("the upload of file ")
        assert f"took longer than the {GRACE_S:g} s grace and chunk {cid} is no longer on" in (
            err.value.details()
        )
        assert node in err.value.details()


async def test_a_commit_releases_its_chunks_reservations(nats, tmp_path) -> None:
    """PlaceChunks reserves every chunk it places; the commit naming them drops the records
    (after it has answered), so deleting the file is not held back by its own upload."""
    async with running_mesh(nats.url, tmp_path, STRATOS_GC_INTERVAL_S="3600") as mesh:
        segments = await upload(mesh, [piece(), piece()])
        ids = [s.chunk_id for s in segments]
        nc = await nats_py.connect(nats.url)
        try:
            store = await ReservationStore.open(nc.jetstream(), replicas=1)
            assert set(await store.get(ids)) == set(ids)
            await commit(mesh, manifest_of(segments))

            async def released() -> bool:
                return not await store.get(ids)

            await async_wait_until(released, what="the commit to release its reservations")
        finally:
            await nc.close()


async def test_a_late_commit_is_accepted_when_every_copy_is_still_there(nats, tmp_path) -> None:
    # GC runs rarely here, so the reservation lapses but nothing collects the chunks.
    async with running_mesh(nats.url, tmp_path, STRATOS_GC_INTERVAL_S="3600") as mesh:
        segments = await upload(mesh, [piece(), piece()])
        await asyncio.sleep(GRACE_S + 0.5)
        m = manifest_of(segments)
        await commit(mesh, m)
        assert m.file_id in await listed(mesh)


async def test_chunks_older_than_a_lost_manifest_store_are_never_collected(nats, tmp_path) -> None:
    """NATS restarted without its disk: the manifest bucket is empty and re-created. Chunks
    stored before that are not orphans GC can judge — their manifests may be what was lost —
    so they stay; an orphan stored after the re-creation is still collected."""
    async with running_mesh(nats.url, tmp_path) as mesh:
        segments = await upload(mesh, [piece()])
        await commit(mesh, manifest_of(segments))
        old_orphan = await put_chunk("c3", mesh.nodes["c3"].address, piece())
        nc = await nats_py.connect(nats.url)
        try:
            js = nc.jetstream()
            await js.delete_stream(f"KV_{MANIFEST_BUCKET}")  # the store is lost
            await ensure_kv(js, MANIFEST_BUCKET, replicas=1)  # and re-created empty
        finally:
            await nc.close()
        await asyncio.sleep(0.01)  # a chunk stored now is younger than the new bucket
        new_orphan = await put_chunk("c3", mesh.nodes["c3"].address, piece())
        await async_wait_until(
            on_disk(lambda: not mesh.nodes["c3"].has(new_orphan)),
            timeout_s=GRACE_S + 30,
            what="the orphan stored after the re-creation to be collected",
        )
        assert mesh.nodes["c3"].has(old_orphan)
        for s in segments:
            assert mesh.holding(s.chunk_id) == set(s.node_ids)
