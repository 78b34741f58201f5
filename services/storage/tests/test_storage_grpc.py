"""StorageService over real gRPC on a loopback port, as a client (SDK, index, repair) sees it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from stratos.common.grpcutil import RunningServer, channel, check_health
from stratos.common.hashing import chunk_id
from stratos.common.procs import async_wait_until
from stratos.common.testing_tls import cert_files, channel_credentials, credentials
from stratos.storage.chunkstore import ChunkStore
from stratos.storage.grpcserver import start_storage_server
from stratos.storage.servicer import StorageService
from stratos.v1 import storage_pb2, storage_pb2_grpc

pytestmark = pytest.mark.integration  # a real gRPC server on loopback

MIB = 1024 * 1024


@dataclass
class Node:
    stub: storage_pb2_grpc.StorageServiceStub
    store: ChunkStore
    root: Path
    port: int


async def start_node(root: Path, capacity: int, **service_args) -> tuple[RunningServer, ChunkStore]:
    store = ChunkStore(root, node_id="node-g", capacity_bytes=capacity, max_chunk_bytes=8 * MIB)
    service = StorageService(store, zone="zone-x", tickets=None, **service_args)
    return await start_storage_server(
        "127.0.0.1:0", service, credentials("storage", "storage")
    ), store


@pytest.fixture
async def node(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Node]:
    capacity = getattr(request, "param", 64 * MIB)
    running, store = await start_node(tmp_path, capacity)
    async with channel(f"127.0.0.1:{running.port}", channel_credentials()) as ch:
        yield Node(storage_pb2_grpc.StorageServiceStub(ch), store, tmp_path, running.port)
    await running.stop(0)


def put_requests(cid: str, data: bytes, size: int | None = None, piece: int = MIB):
    yield storage_pb2.PutChunkRequest(
        header=storage_pb2.PutChunkHeader(chunk_id=cid, size=len(data) if size is None else size)
    )
    for i in range(0, len(data), piece):
        yield storage_pb2.PutChunkRequest(data=data[i : i + piece])


async def get(stub, cid: str, offset: int = 0, length: int = 0) -> tuple[bytes, int]:
    parts, total = [], None
    async for msg in stub.GetChunk(
        storage_pb2.GetChunkRequest(chunk_id=cid, offset=offset, length=length)
    ):
        if total is None:
            total = msg.total_size
        parts.append(msg.data)
    return b"".join(parts), total


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


async def test_put_get_range_has_delete_stat(node: Node) -> None:
    data = os.urandom(2 * MIB + 77)
    cid = chunk_id(data)
    resp = await node.stub.PutChunk(put_requests(cid, data))
    assert (resp.chunk_id, resp.size, resp.already_present) == (cid, len(data), False)
    again = await node.stub.PutChunk(put_requests(cid, data))
    assert again.already_present is True

    assert await get(node.stub, cid) == (data, len(data))
    assert await get(node.stub, cid, MIB - 3, 10) == (data[MIB - 3 : MIB + 7], len(data))
    assert await get(node.stub, cid, len(data), 0) == (b"", len(data))

    other = chunk_id(b"never stored")
    has = await node.stub.HasChunks(storage_pb2.HasChunksRequest(chunk_ids=[other, cid]))
    assert list(has.present) == [False, True]

    stat = await node.stub.Stat(storage_pb2.StatRequest())
    assert (stat.node_id, stat.zone, stat.capacity_bytes) == ("node-g", "zone-x", 64 * MIB)
    assert (stat.used_bytes, stat.chunk_count) == (len(data), 1)

    deleted = await node.stub.DeleteChunk(storage_pb2.DeleteChunkRequest(chunk_id=cid))
    assert deleted.deleted is True
    deleted = await node.stub.DeleteChunk(storage_pb2.DeleteChunkRequest(chunk_id=cid))
    assert deleted.deleted is False
    stat = await node.stub.Stat(storage_pb2.StatRequest())
    assert (stat.used_bytes, stat.chunk_count) == (0, 0)


async def test_unknown_chunk_is_not_found(node: Node) -> None:
    cid = chunk_id(b"absent")
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await get(node.stub, cid)
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND
    assert exc.value.details() == f"chunk {cid} is not stored on node-g"


async def test_wrong_hash_is_invalid_argument_and_stores_nothing(node: Node) -> None:
    data = os.urandom(MIB + 1)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await node.stub.PutChunk(put_requests(chunk_id(b"something else"), data))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "nothing was stored" in exc.value.details()
    assert files_under(node.root / "chunks") == files_under(node.root / "tmp") == []
    assert node.store.stat().reserved_bytes == 0


async def test_a_chunk_sent_whole_in_the_header_message_is_stored(node: Node) -> None:
    """A small chunk is one message (header and bytes); a bigger one may start in it too."""
    small = os.urandom(64 * 1024)
    one = storage_pb2.PutChunkRequest(
        header=storage_pb2.PutChunkHeader(chunk_id=chunk_id(small), size=len(small)), data=small
    )
    resp = await node.stub.PutChunk(iter([one]))
    assert (resp.chunk_id, resp.size, resp.already_present) == (chunk_id(small), len(small), False)
    assert (await get(node.stub, chunk_id(small)))[0] == small

    big = os.urandom(MIB + 5)
    started = storage_pb2.PutChunkRequest(
        header=storage_pb2.PutChunkHeader(chunk_id=chunk_id(big), size=len(big)), data=big[:MIB]
    )
    rest = storage_pb2.PutChunkRequest(data=big[MIB:])
    await node.stub.PutChunk(iter([started, rest]))
    assert (await get(node.stub, chunk_id(big)))[0] == big

    fresh = os.urandom(100)
    too_much = storage_pb2.PutChunkRequest(
        header=storage_pb2.PutChunkHeader(chunk_id=chunk_id(fresh), size=10), data=fresh
    )
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await node.stub.PutChunk(iter([too_much]))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert node.store.stat().reserved_bytes == 0
    assert files_under(node.root / "tmp") == []


async def test_a_whole_chunk_is_stored_only_once_its_stream_ends_cleanly(node: Node) -> None:
    """The header carried every byte: an empty message after it changes nothing, but more
    bytes or a second header refuse the chunk, and nothing of it stays behind."""
    small = os.urandom(64 * 1024)
    header = storage_pb2.PutChunkHeader(chunk_id=chunk_id(small), size=len(small))
    whole = storage_pb2.PutChunkRequest(header=header, data=small)
    for extra, said in (
        (storage_pb2.PutChunkRequest(data=b"x"), "more bytes arrived than the announced"),
        (storage_pb2.PutChunkRequest(header=header), "only the first PutChunk message"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await node.stub.PutChunk(iter([whole, extra]))
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert said in exc.value.details()
        assert files_under(node.root / "chunks") == files_under(node.root / "tmp") == []
        assert node.store.stat().reserved_bytes == 0
    resp = await node.stub.PutChunk(iter([whole, storage_pb2.PutChunkRequest(data=b"")]))
    assert (resp.chunk_id, resp.size, resp.already_present) == (chunk_id(small), len(small), False)
    assert (await get(node.stub, chunk_id(small)))[0] == small
    again = await node.stub.PutChunk(iter([whole]))
    assert again.already_present


async def test_malformed_streams_are_invalid_argument(node: Node) -> None:
    data = b"abc"
    cid = chunk_id(data)

    async def data_first():
        yield storage_pb2.PutChunkRequest(data=data)

    async def two_headers():
        for msg in put_requests(cid, data):
            yield msg
        yield storage_pb2.PutChunkRequest(header=storage_pb2.PutChunkHeader(chunk_id=cid))

    cases = [
        data_first(),
        two_headers(),
        put_requests(cid, data, size=10),  # fewer bytes than announced
        put_requests(cid, data, size=2),  # more bytes than announced
        put_requests("not-a-chunk-id", data),
        put_requests(chunk_id(b"big"), b"", size=8 * MIB + 1),  # over max_chunk_bytes
    ]
    for requests in cases:
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await node.stub.PutChunk(requests)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT, exc.value.details()
    assert files_under(node.root / "chunks") == files_under(node.root / "tmp") == []
    assert node.store.stat().reserved_bytes == 0


@pytest.mark.parametrize("node", [2 * MIB], indirect=True)
async def test_full_node_is_resource_exhausted(node: Node) -> None:
    first = os.urandom(MIB + MIB // 2)
    await node.stub.PutChunk(put_requests(chunk_id(first), first))
    second = os.urandom(MIB)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await node.stub.PutChunk(put_requests(chunk_id(second), second))
    assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert exc.value.details().startswith("storage node node-g is full")


async def test_corrupt_chunk_is_data_loss_and_quarantined(node: Node) -> None:
    data = os.urandom(MIB)
    cid = chunk_id(data)
    await node.stub.PutChunk(put_requests(cid, data))
    path = node.store.path_of(cid)
    path.write_bytes(b"\0" + path.read_bytes()[1:])
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await get(node.stub, cid, 0, 1)
    assert exc.value.code() == grpc.StatusCode.DATA_LOSS
    assert len(files_under(node.root / "quarantine")) == 1
    has = await node.stub.HasChunks(storage_pb2.HasChunksRequest(chunk_ids=[cid]))
    assert list(has.present) == [False]
    stat = await node.stub.Stat(storage_pb2.StatRequest())
    assert (stat.used_bytes, stat.chunk_count) == (0, 0)


async def test_bad_ids_in_unary_calls_are_invalid_argument(node: Node) -> None:
    calls = [
        node.stub.HasChunks(storage_pb2.HasChunksRequest(chunk_ids=["../etc/passwd"])),
        node.stub.DeleteChunk(storage_pb2.DeleteChunkRequest(chunk_id="XYZ")),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def stalled_put(cid: str, data: bytes, never: asyncio.Event):
    async def requests():
        yield storage_pb2.PutChunkRequest(
            header=storage_pb2.PutChunkHeader(chunk_id=cid, size=len(data))
        )
        yield storage_pb2.PutChunkRequest(data=data[:MIB])
        await never.wait()  # the client goes away before sending the rest

    return requests()


async def assert_abandoned_write_cleaned_up(node: Node, size: int, leave) -> None:
    async def writing() -> bool:
        return node.store.stat().reserved_bytes == size and bool(files_under(node.root / "tmp"))

    await async_wait_until(writing, timeout_s=10, what="the server to start writing")
    await leave()

    async def cleaned_up() -> bool:
        return not files_under(node.root / "tmp") and node.store.stat().reserved_bytes == 0

    await async_wait_until(cleaned_up, timeout_s=10, what="the abandoned write to be removed")
    assert files_under(node.root / "chunks") == []
    assert (node.store.stat().used_bytes, node.store.stat().chunk_count) == (0, 0)


async def test_client_cancel_mid_put_leaves_nothing(node: Node) -> None:
    data = os.urandom(4 * MIB)
    never = asyncio.Event()
    # A plain channel: through the OpenTelemetry client interceptor, cancel() of a
    # client-streaming call never reaches the server (see the README's notes).
    async with grpc.aio.secure_channel(f"127.0.0.1:{node.port}", channel_credentials()) as ch:
        call = storage_pb2_grpc.StorageServiceStub(ch).PutChunk(
            stalled_put(chunk_id(data), data, never)
        )

        async def cancel() -> None:
            call.cancel()

        await assert_abandoned_write_cleaned_up(node, len(data), cancel)


CLIENT_THAT_STALLS = """
import asyncio, sys
from stratos.common.grpcutil import channel
from stratos.common.tls import MeshTLS
from stratos.v1 import storage_pb2, storage_pb2_grpc

async def main(address, cid, size):
    async def requests():
        yield storage_pb2.PutChunkRequest(
            header=storage_pb2.PutChunkHeader(chunk_id=cid, size=size))
        yield storage_pb2.PutChunkRequest(data=bytes(1024 * 1024))
        await asyncio.Event().wait()

    creds = MeshTLS.from_files(*sys.argv[4:7]).channel_credentials()
    async with channel(address, creds) as ch:
        await storage_pb2_grpc.StorageServiceStub(ch).PutChunk(requests())

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_client_process_dying_mid_put_leaves_nothing(node: Node) -> None:
    size = 4 * MIB
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENT_THAT_STALLS,
        f"127.0.0.1:{node.port}",
        chunk_id(b"never completed"),
        str(size),
        *map(str, dataclasses.astuple(cert_files())),
    )
    try:

        async def kill() -> None:
            proc.kill()
            await proc.wait()

        await assert_abandoned_write_cleaned_up(node, size, kill)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_stalled_upload_is_dropped_and_frees_its_slot(tmp_path: Path) -> None:
    running, store = await start_node(tmp_path, 64 * MIB, max_active_puts=1, idle_timeout_s=0.5)
    try:
        async with grpc.aio.secure_channel(
            f"127.0.0.1:{running.port}", channel_credentials()
        ) as ch:
            stub = storage_pb2_grpc.StorageServiceStub(ch)
            stalled_data = os.urandom(2 * MIB)
            never = asyncio.Event()
            stalled = stub.PutChunk(stalled_put(chunk_id(stalled_data), stalled_data, never))
            # The only slot is taken by the stalled upload; this one waits, then gets through.
            data = os.urandom(MIB)
            resp = await asyncio.wait_for(stub.PutChunk(put_requests(chunk_id(data), data)), 10)
            assert resp.chunk_id == chunk_id(data)
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await stalled
            assert exc.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "sent nothing for 0.5 s" in exc.value.details()
        assert store.stat().chunk_count == 1
        assert files_under(tmp_path / "tmp") == []
    finally:
        await running.stop(0)


async def test_server_reports_healthy(node: Node) -> None:
    assert await check_health(f"127.0.0.1:{node.port}", channel_credentials())


async def test_small_chunks_go_in_one_request_and_come_in_one_answer(node: Node) -> None:
    data = os.urandom(64 << 10)
    cid = chunk_id(data)
    whole = storage_pb2.PutChunkRequest(
        header=storage_pb2.PutChunkHeader(chunk_id=cid, size=len(data)), data=data
    )
    resp = await node.stub.PutSmallChunk(whole)
    assert (resp.chunk_id, resp.size, resp.already_present) == (cid, len(data), False)
    assert (await node.stub.PutSmallChunk(whole)).already_present
    got = await node.stub.GetSmallChunk(storage_pb2.GetChunkRequest(chunk_id=cid))
    assert (got.data, got.total_size) == (data, len(data))
    part = await node.stub.GetSmallChunk(
        storage_pb2.GetChunkRequest(chunk_id=cid, offset=100, length=10)
    )
    assert part.data == data[100:110]
    assert await get(node.stub, cid) == (data, len(data))  # the streaming read agrees


async def test_small_chunk_calls_refuse_what_does_not_fit_them(node: Node) -> None:
    async def refused(call) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call
        return exc.value

    data = os.urandom(1000)
    cid = chunk_id(data)
    header = storage_pb2.PutChunkHeader(chunk_id=cid, size=len(data))
    short = await refused(
        node.stub.PutSmallChunk(storage_pb2.PutChunkRequest(header=header, data=data[:10]))
    )
    assert short.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert short.details() == (
        f"chunk {cid}: a PutSmallChunk request carries the whole chunk; 1000 bytes were "
        "announced and 10 sent"
    )
    headless = await refused(node.stub.PutSmallChunk(storage_pb2.PutChunkRequest(data=data)))
    assert headless.details() == "a PutSmallChunk request must carry the header"
    big = os.urandom(MIB + 1)
    too_big = await refused(
        node.stub.PutSmallChunk(
            storage_pb2.PutChunkRequest(
                header=storage_pb2.PutChunkHeader(chunk_id=chunk_id(big), size=len(big)), data=big
            )
        )
    )
    assert too_big.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "PutSmallChunk accepts at most 1048576 bytes" in too_big.details()
    wrong = await refused(
        node.stub.PutSmallChunk(
            storage_pb2.PutChunkRequest(
                header=storage_pb2.PutChunkHeader(chunk_id=chunk_id(b"other"), size=len(data)),
                data=data,
            )
        )
    )
    assert wrong.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert files_under(node.root / "chunks") == files_under(node.root / "tmp") == []
    assert node.store.stat().reserved_bytes == 0

    large = os.urandom(3 * MIB)
    await node.stub.PutChunk(put_requests(chunk_id(large), large))
    ranged = await refused(
        node.stub.GetSmallChunk(storage_pb2.GetChunkRequest(chunk_id=chunk_id(large)))
    )
    assert ranged.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "read it with GetChunk" in ranged.details()
    absent = await refused(
        node.stub.GetSmallChunk(storage_pb2.GetChunkRequest(chunk_id=chunk_id(b"absent")))
    )
    assert absent.code() == grpc.StatusCode.NOT_FOUND
