"""ListChunks: what garbage collection compares with the manifests. The store's own walk, and the
RPC over real gRPC on a loopback port: pages in chunk ID order, resumable, temp and quarantined
files never listed, a bad request refused with one sentence."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from stratos.common.errors import InvalidArgument
from stratos.common.grpcutil import channel
from stratos.common.hashing import chunk_id
from stratos.common.testing_tls import channel_credentials, credentials
from stratos.storage.chunkstore import ChunkStore
from stratos.storage.grpcserver import start_storage_server
from stratos.storage.servicer import StorageService
from stratos.v1 import storage_pb2, storage_pb2_grpc

MIB = 1024 * 1024


def filled_store(root: Path, n: int) -> tuple[ChunkStore, dict[str, bytes]]:
    store = ChunkStore(root, node_id="node-l", capacity_bytes=64 * MIB)
    chunks = {}
    for i in range(n):
        data = os.urandom(10 + i)
        cid = chunk_id(data)
        store.put(cid, data)
        chunks[cid] = data
    return store, chunks


def test_the_walk_lists_every_chunk_in_id_order_with_size_and_mtime(tmp_path) -> None:
    before = time.time_ns() // 1_000_000 - 2000
    store, chunks = filled_store(tmp_path, 40)
    listed = list(store.list_chunks())
    assert [c.chunk_id for c in listed] == sorted(chunks)
    assert all(c.size == len(chunks[c.chunk_id]) for c in listed)
    assert all(before <= c.stored_unix_ms <= time.time_ns() // 1_000_000 for c in listed)


def test_the_walk_resumes_after_a_chunk_id_even_one_no_longer_stored(tmp_path) -> None:
    store, chunks = filled_store(tmp_path, 30)
    ids = sorted(chunks)
    assert [c.chunk_id for c in store.list_chunks(ids[9])] == ids[10:]
    store.delete(ids[9])
    assert [c.chunk_id for c in store.list_chunks(ids[9])] == ids[10:]
    assert list(store.list_chunks(ids[-1])) == []


def test_temp_quarantined_and_stray_files_are_not_chunks(tmp_path) -> None:
    store, chunks = filled_store(tmp_path, 3)
    cid = sorted(chunks)[0]
    other = chunk_id(b"not stored")
    (store.tmp_dir / f"{other}.abc.part").write_bytes(b"half")
    (store.quarantine_dir / f"{other}.123").write_bytes(b"bad")
    (store.chunks_dir / cid[:2] / "notes.txt").write_text("x")
    misplaced = "ff" if cid[:2] != "ff" else "00"
    (store.chunks_dir / misplaced).mkdir(exist_ok=True)
    (store.chunks_dir / misplaced / cid).write_bytes(b"wrong prefix")
    (store.chunks_dir / other[:2]).mkdir(exist_ok=True)
    (store.chunks_dir / other[:2] / other).mkdir()  # a directory named like a chunk
    assert [c.chunk_id for c in store.list_chunks()] == sorted(chunks)


def test_a_bad_start_after_is_refused_before_the_walk(tmp_path) -> None:
    store, _ = filled_store(tmp_path, 1)
    with pytest.raises(InvalidArgument, match="is not a chunk ID"):
        store.list_chunks("../etc")


@pytest.fixture
async def served(tmp_path) -> AsyncIterator[tuple[storage_pb2_grpc.StorageServiceStub, dict]]:
    store, chunks = filled_store(tmp_path, 25)
    running = await start_storage_server(
        "127.0.0.1:0",
        StorageService(store, zone="z", tickets=None),
        credentials("storage", "storage"),
    )
    try:
        async with channel(f"127.0.0.1:{running.port}", channel_credentials()) as ch:
            yield storage_pb2_grpc.StorageServiceStub(ch), chunks
    finally:
        await running.stop(0)


async def pages(stub, **req) -> list[list[storage_pb2.ChunkEntry]]:
    call = stub.ListChunks(storage_pb2.ListChunksRequest(**req), timeout=10)
    return [list(m.chunks) async for m in call]


@pytest.mark.integration
async def test_list_chunks_streams_pages_in_chunk_id_order(served) -> None:
    stub, chunks = served
    got = await pages(stub, page_size=10)
    assert [len(p) for p in got] == [10, 10, 5]
    flat = [e for p in got for e in p]
    assert [e.chunk_id for e in flat] == sorted(chunks)
    assert all(e.size == len(chunks[e.chunk_id]) and e.stored_unix_ms > 0 for e in flat)
    # 0 means the default page (1000): everything in one message.
    assert [len(p) for p in await pages(stub)] == [25]


@pytest.mark.integration
async def test_list_chunks_resumes_after_start_after(served) -> None:
    stub, chunks = served
    ids = sorted(chunks)
    got = await pages(stub, start_after=ids[19], page_size=3)
    assert [e.chunk_id for p in got for e in p] == ids[20:]
    assert await pages(stub, start_after=ids[-1]) == []


@pytest.mark.integration
async def test_list_chunks_refuses_bad_requests_with_one_sentence(served) -> None:
    stub, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as bad_id:
        await pages(stub, start_after="zz")
    assert bad_id.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'zz' is not a chunk ID" in bad_id.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as too_big:
        await pages(stub, page_size=10_001)
    assert too_big.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 10000" in too_big.value.details()
