"""Tickets on real processes: a nats-server, an index signing tickets as an admitted meta node
and three storage nodes checking them, all admitted by the mesh's admin as the launcher admits
them. The owner's put, get and rm work through tickets; a stranger — who has only the published
contracts, the addresses and keys of its own — cannot delete, overwrite, fill, list or read a
node's chunks: each attack is refused with PERMISSION_DENIED and the file still reads back,
byte for byte. Everyone calls with the client certificate of the test mesh CA
(`channel_credentials()`): every user of a mesh is given it, the stranger too, and it proves
nothing more than that (stratos.common.tls)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from stratos.common import tickets
from stratos.common.hashing import chunk_id
from stratos.common.identity import Identity
from stratos.common.procs import async_wait_until, free_port
from stratos.common.testing import TrustedMesh, nats_server
from stratos.common.testing_tls import cert_files, channel_credentials
from stratos.common.tickets import Bearer
from stratos.sdk.client import MeshClient
from stratos.v1 import (
    index_pb2,
    index_pb2_grpc,
    storage_pb2,
    storage_pb2_grpc,
    ticket_pb2,
    types_pb2,
)

pytestmark = [pytest.mark.integration, pytest.mark.attack]

NODES = ("storage-1", "storage-2", "storage-3")
FAST = {"STRATOS_HEARTBEAT_INTERVAL_S": "0.3", "STRATOS_LOG_LEVEL": "warning"}


@dataclass
class Mesh:
    index: str
    storage: dict[str, str]  # node id → address
    data: dict[str, Path]
    meta_key: Identity  # the index's key: only to forge an *old* ticket the index once signed

    def stub(self, node: str) -> storage_pb2_grpc.StorageServiceStub:
        return storage_pb2_grpc.StorageServiceStub(
            grpc.aio.secure_channel(self.storage[node], channel_credentials())
        )

    def disk(self, node: str) -> list[Path]:
        return sorted(p for p in (self.data[node] / "chunks").rglob("*") if p.is_file())


@contextmanager
def spawn(module: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module],
            env={**os.environ, **FAST, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@pytest.fixture
async def mesh(tmp_path: Path) -> AsyncIterator[Mesh]:
    trust = TrustedMesh(tmp_path / "trust", mesh_id="mesh-t")
    trust.root.mkdir()
    meta, index_env = trust.meta("index-0")
    with ExitStack() as stack:
        nats = stack.enter_context(nats_server())
        index_port = free_port()
        stack.enter_context(
            spawn(
                "stratos.index",
                {
                    **trust.env,
                    **index_env,
                    **cert_files("index", "index-0").env(),
                    "STRATOS_NATS_URL": nats.url,
                    "STRATOS_GRPC_ADDRESS": f"127.0.0.1:{index_port}",
                },
                tmp_path / "index.log",
            )
        )
        storage, data = {}, {}
        for node in NODES:
            port = free_port()
            storage[node], data[node] = f"127.0.0.1:{port}", tmp_path / node
            trust.storage(node, data[node])
            stack.enter_context(
                spawn(
                    "stratos.storage",
                    {
                        **trust.env,
                        **cert_files("storage", node).env(),
                        "STRATOS_NATS_URL": nats.url,
                        "STRATOS_NODE_ID": node,
                        "STRATOS_ZONE": f"zone-{node[-1]}",
                        "STRATOS_DATA_DIR": str(data[node]),
                        "STRATOS_GRPC_ADDRESS": storage[node],
                        "STRATOS_CAPACITY_BYTES": str(256 * 1024 * 1024),
                    },
                    tmp_path / f"{node}.log",
                )
            )
        m = Mesh(f"127.0.0.1:{index_port}", storage, data, meta)

        async def all_live() -> bool:
            try:
                async with grpc.aio.secure_channel(m.index, channel_credentials()) as ch:
                    resp = await index_pb2_grpc.IndexServiceStub(ch).ListNodes(
                        index_pb2.ListNodesRequest(), timeout=2
                    )
            except grpc.RpcError:
                return False
            live = [n for n in resp.nodes if n.state == types_pb2.NODE_STATE_LIVE]
            return len(live) == len(NODES)

        await async_wait_until(all_live, timeout_s=60, what="three live storage nodes")
        yield m


@pytest.fixture
async def stored(mesh: Mesh, tmp_path: Path):
    """A 3-copy file put by its owner through tickets: (client, capability, path, holders)."""
    src = tmp_path / "secret.bin"
    src.write_bytes(os.urandom(300_000))
    owner = Identity.generate()
    async with MeshClient([mesh.index], owner, credentials=channel_credentials()) as client:
        put = await client.put(src, replicas=3)
        stat = await client.stat(put.file_id)
        [seg] = stat.manifest.segments
        yield client, put, src, seg


async def refused(call) -> str:
    with pytest.raises(grpc.RpcError) as info:
        await call
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, info.value.details()
    return info.value.details()


async def read_back(client: MeshClient, capability: str, src: Path, out: Path) -> None:
    await client.get(capability, out, force=True)
    assert out.read_bytes() == src.read_bytes()


async def stream(stub_call) -> list:
    return [m async for m in stub_call]


async def test_the_owner_puts_gets_and_removes_through_tickets(mesh, stored, tmp_path):
    client, put, src, seg = stored
    assert sorted(seg.node_ids) == list(NODES)
    await read_back(client, put.capability, src, tmp_path / "out")
    await client.delete(put.file_id)


async def test_a_stranger_cannot_delete_a_files_chunks(mesh, stored, tmp_path):
    client, put, src, seg = stored
    stranger, rogue_meta = Identity.generate(), Identity.generate()
    # a real GET ticket, asked for with the stranger's own key: reading is allowed, deleting not
    async with grpc.aio.secure_channel(mesh.index, channel_credentials()) as ch:
        resp = await index_pb2_grpc.IndexServiceStub(ch).GetManifest(
            index_pb2.GetManifestRequest(
                file_id=put.file_id, ask=tickets.ask(stranger, "GetManifest", put.file_id)
            )
        )
    [read_ticket] = resp.tickets
    for node in seg.node_ids:
        forged = tickets.issue(
            rogue_meta,
            "index-0",  # a meta node's name, signed with a key the mesh never admitted
            holder_public_key=stranger.public_bytes,
            actions=[ticket_pb2.TICKET_ACTION_DELETE],
            chunk_ids=[seg.chunk_id],
            node_ids=[node],
            byte_budget=0,
            ttl_ms=60_000,
        )
        attempts = {
            "no ticket": storage_pb2.DeleteChunkRequest(chunk_id=seg.chunk_id),
            "forged": storage_pb2.DeleteChunkRequest(
                chunk_id=seg.chunk_id,
                auth=Bearer(stranger, forged).prove("DeleteChunk", node, seg.chunk_id),
            ),
            "read ticket": storage_pb2.DeleteChunkRequest(
                chunk_id=seg.chunk_id,
                auth=Bearer(stranger, read_ticket).prove("DeleteChunk", node, seg.chunk_id),
            ),
        }
        sentences = {k: await refused(mesh.stub(node).DeleteChunk(r)) for k, r in attempts.items()}
        assert "needs a ticket" in sentences["no ticket"]
        assert "not signed by index-0's key" in sentences["forged"]
        assert "does not allow delete" in sentences["read ticket"]
        assert len(mesh.disk(node)) == 1
    await read_back(client, put.capability, src, tmp_path / "out")


async def test_a_stranger_cannot_fill_a_disk_with_junk(mesh, stored, tmp_path):
    client, stored_file, src, _ = stored
    stranger = Identity.generate()
    junk = os.urandom(1 << 20)
    junk_id = chunk_id(junk)
    # a real PUT ticket for one small chunk, then junk under another ID and past its budget
    small = b"x" * 10
    small_id = chunk_id(small)
    async with grpc.aio.secure_channel(mesh.index, channel_credentials()) as ch:
        placed = await index_pb2_grpc.IndexServiceStub(ch).PlaceChunks(
            index_pb2.PlaceChunksRequest(
                chunks=[index_pb2.ChunkToPlace(chunk_id=small_id, size=10)],
                replicas=1,
                ask=tickets.ask(stranger, "PlaceChunks", tickets.place_subject([(small_id, 10)])),
            )
        )
    [ticket] = placed.tickets
    node = placed.placements[0].targets[0].node_id
    before = {n: (mesh.disk(n), await mesh.stub(n).Stat(storage_pb2.StatRequest())) for n in NODES}

    async def put(node: str, header: storage_pb2.PutChunkHeader) -> str:
        """The header alone; the node's answer, which it gives on the header. (Writing junk
        after it races that early answer: gRPC then reports the client's failed send, or an
        INTERNAL error from its core, instead of the node's status.)"""
        call = mesh.stub(node).PutChunk()
        await call.write(storage_pb2.PutChunkRequest(header=header))
        assert await call.code() == grpc.StatusCode.PERMISSION_DENIED, await call.details()
        return await call.details()

    bearer = Bearer(stranger, ticket)
    for n in NODES:
        plain = storage_pb2.PutChunkHeader(chunk_id=junk_id, size=len(junk))
        assert "needs a ticket" in await put(n, plain)
    other = storage_pb2.PutChunkHeader(
        chunk_id=junk_id,
        size=len(junk),
        auth=bearer.prove("PutChunk", node, junk_id, str(len(junk))),
    )
    assert "does not cover chunk" in await put(node, other)
    over = storage_pb2.PutChunkHeader(
        chunk_id=small_id,
        size=len(junk),
        auth=bearer.prove("PutChunk", node, small_id, str(len(junk))),
    )
    assert "allows 20 bytes at this node" in await put(node, over)

    async def put_whole(node: str, header: storage_pb2.PutChunkHeader) -> str:
        """The same, as a small file's one-message PutSmallChunk."""
        request = storage_pb2.PutChunkRequest(header=header, data=junk)
        return await refused(mesh.stub(node).PutSmallChunk(request))

    for n in NODES:
        plain = storage_pb2.PutChunkHeader(chunk_id=junk_id, size=len(junk))
        assert "needs a ticket" in await put_whole(n, plain)
    assert "does not cover chunk" in await put_whole(node, other)
    assert "allows 20 bytes at this node" in await put_whole(node, over)
    for n in NODES:
        files, stat = before[n]
        assert mesh.disk(n) == files
        assert (await mesh.stub(n).Stat(storage_pb2.StatRequest())).used_bytes == stat.used_bytes
    await read_back(client, stored_file.capability, src, tmp_path / "out")


async def test_a_stranger_cannot_list_or_read_a_nodes_chunks(mesh, stored, tmp_path):
    client, put, src, seg = stored
    stranger = Identity.generate()
    node = seg.node_ids[0]
    stub = mesh.stub(node)
    assert "needs a ticket" in await refused(
        stream(stub.ListChunks(storage_pb2.ListChunksRequest()))
    )
    assert "needs a ticket" in await refused(
        stream(stub.GetChunk(storage_pb2.GetChunkRequest(chunk_id=seg.chunk_id)))
    )
    assert "needs a ticket" in await refused(
        stub.GetSmallChunk(storage_pb2.GetChunkRequest(chunk_id=seg.chunk_id))
    )
    # an old ticket the index once signed for the stranger: expired
    old = tickets.issue(
        mesh.meta_key,
        "index-0",
        holder_public_key=stranger.public_bytes,
        actions=[ticket_pb2.TICKET_ACTION_GET],
        chunk_ids=[seg.chunk_id],
        node_ids=[node],
        byte_budget=1 << 30,
        ttl_ms=60_000,
        now=tickets.now_ms() - 3_600_000,
    )
    expired = storage_pb2.GetChunkRequest(
        chunk_id=seg.chunk_id,
        auth=Bearer(stranger, old).prove("GetChunk", node, seg.chunk_id, "0", "0"),
    )
    assert "the ticket expired" in await refused(stream(stub.GetChunk(expired)))
    assert "the ticket expired" in await refused(stub.GetSmallChunk(expired))
    # the owner's own GET ticket, sniffed: useless without the owner's key
    async with grpc.aio.secure_channel(mesh.index, channel_credentials()) as ch:
        owners = await index_pb2_grpc.IndexServiceStub(ch).GetManifest(
            index_pb2.GetManifestRequest(
                file_id=put.file_id,
                ask=tickets.ask(client._identity, "GetManifest", put.file_id),
            )
        )
    [sniffed] = owners.tickets
    stolen = storage_pb2.GetChunkRequest(
        chunk_id=seg.chunk_id,
        auth=Bearer(stranger, sniffed).prove("GetChunk", node, seg.chunk_id, "0", "0"),
    )
    assert "not signed by the ticket's holder" in await refused(stream(stub.GetChunk(stolen)))
    # a client's ticket never lists a node's chunks: only a meta node may
    listing = storage_pb2.ListChunksRequest(
        auth=Bearer(client._identity, sniffed).prove("ListChunks", node, "", "0")
    )
    assert "does not allow list" in await refused(stream(stub.ListChunks(listing)))
    await read_back(client, put.capability, src, tmp_path / "out")  # the owner still can
