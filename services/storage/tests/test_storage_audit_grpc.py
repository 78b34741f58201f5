"""The Audit RPC over real gRPC against chunks stored on disk, as an auditor sees it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from blake3 import blake3

from stratos.common.grpcutil import channel
from stratos.common.hashing import chunk_id
from stratos.common.testing_tls import channel_credentials, credentials
from stratos.storage.chunkstore import ChunkStore
from stratos.storage.grpcserver import start_storage_server
from stratos.storage.servicer import StorageService
from stratos.v1 import storage_pb2, storage_pb2_grpc

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


@dataclass
class Node:
    stub: storage_pb2_grpc.StorageServiceStub
    store: ChunkStore


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    store = ChunkStore(tmp_path, node_id="audited", capacity_bytes=64 * MIB)
    running = await start_storage_server(
        "127.0.0.1:0",
        StorageService(store, zone="zone-a", tickets=None),
        credentials("storage", "storage"),
    )
    async with channel(f"127.0.0.1:{running.port}", channel_credentials()) as ch:
        yield Node(storage_pb2_grpc.StorageServiceStub(ch), store)
    await running.stop(0)


def challenge(cid: str, nonce: bytes, *ranges: tuple[int, int]) -> storage_pb2.AuditRequest:
    return storage_pb2.AuditRequest(
        chunk_id=cid,
        nonce=nonce,
        ranges=[storage_pb2.ByteRange(offset=o, length=n) for o, n in ranges],
    )


async def test_audit_answers_blake3_of_nonce_and_ranges(node: Node) -> None:
    data = os.urandom(5 * MIB + 123)
    cid = chunk_id(data)
    node.store.put(cid, data)
    nonce = os.urandom(32)
    ranges = [(4 * MIB + 100, 4096), (0, 1), (MIB - 10, 20), (len(data) - 7, 7)]
    resp = await node.stub.Audit(challenge(cid, nonce, *ranges))
    want = blake3(nonce + b"".join(data[o : o + n] for o, n in ranges)).digest()
    assert resp.digest == want
    # A fresh nonce gives a different answer: it cannot be precomputed.
    other = await node.stub.Audit(challenge(cid, os.urandom(32), *ranges))
    assert other.digest != want


async def test_audit_of_a_corrupt_chunk_is_data_loss_and_quarantines_it(node: Node) -> None:
    data = os.urandom(2 * MIB)
    cid = chunk_id(data)
    node.store.put(cid, data)
    path = node.store.path_of(cid)
    with open(path, "r+b") as f:
        f.seek(len(data) - 1)
        f.write(bytes([data[-1] ^ 1]))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await node.stub.Audit(challenge(cid, os.urandom(16), (0, 64)))
    assert info.value.code() == grpc.StatusCode.DATA_LOSS
    assert "corrupt" in info.value.details()
    assert not path.exists()
    has = await node.stub.HasChunks(storage_pb2.HasChunksRequest(chunk_ids=[cid]))
    assert list(has.present) == [False]
    # Once quarantined, the chunk is simply missing.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await node.stub.Audit(challenge(cid, os.urandom(16), (0, 64)))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("nonce_len", "ranges", "sentence"),
    [
        (8, [(0, 1)], "nonce is 8 bytes"),
        (16, [], "1 to 16 byte ranges"),
        (16, [(0, 1)] * 17, "not 17"),
        (16, [(999_990, 11)], "runs past the end"),
        (16, [(0, 600_000), (1, 600_000)], "add up to 1200000 bytes"),
    ],
)
async def test_bad_challenges_are_invalid_argument(
    node: Node, nonce_len: int, ranges: list[tuple[int, int]], sentence: str
) -> None:
    data = os.urandom(1_000_000)
    cid = chunk_id(data)
    node.store.put(cid, data)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await node.stub.Audit(challenge(cid, os.urandom(nonce_len), *ranges))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sentence in info.value.details()
    assert node.store.path_of(cid).exists()


async def test_audit_of_a_missing_chunk_is_not_found(node: Node) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await node.stub.Audit(challenge(chunk_id(b"never stored"), os.urandom(16), (0, 1)))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
