"""GetChunk's answer framed in the read thread: what protobuf reads back from it, how a chunk is
cut into messages, and that a corrupt chunk never goes out whole."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from pathlib import Path

import pytest

from stratos.common.errors import DataLoss
from stratos.common.hashing import chunk_id
from stratos.common.limits import GRPC_MAX_MESSAGE_BYTES
from stratos.storage import get_stream
from stratos.storage.chunkstore import ChunkStore
from stratos.storage.get_stream import MESSAGE_BYTES, next_read
from stratos.v1 import storage_pb2

TAG = 16  # what encryption adds to a segment: a default 4 MiB segment's chunk is 4 MiB + 16


def make_store(root: Path) -> ChunkStore:
    return ChunkStore(root, node_id="node-t", capacity_bytes=64 << 20)


async def answers(store: ChunkStore, cid: str, offset: int = 0, length: int = 0):
    """The GetChunkResponses, parsed by protobuf as a client built on it would."""
    with store.open_reader(cid, offset, length) as reader:
        return [
            storage_pb2.GetChunkResponse.FromString(raw)
            async for raw in get_stream.messages(reader)
        ]


def test_a_short_tail_rides_with_the_message_before_it() -> None:
    assert next_read(0) == 0
    assert next_read(10) == 10
    assert next_read(2 * MESSAGE_BYTES + TAG) == MESSAGE_BYTES
    assert next_read(MESSAGE_BYTES + TAG) == MESSAGE_BYTES + TAG
    assert next_read(MESSAGE_BYTES + MESSAGE_BYTES // 8) == MESSAGE_BYTES + MESSAGE_BYTES // 8
    assert next_read(MESSAGE_BYTES + MESSAGE_BYTES // 8 + 1) == MESSAGE_BYTES


def test_the_largest_answer_fits_every_channel_s_message_limit() -> None:
    largest = next_read(MESSAGE_BYTES + MESSAGE_BYTES // 8) + 32  # + tags, lengths, total_size
    assert largest <= GRPC_MAX_MESSAGE_BYTES


async def test_a_default_chunk_is_two_messages_protobuf_reads_back(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    data = os.urandom(2 * MESSAGE_BYTES + TAG)
    cid = chunk_id(data)
    store.put(cid, data)
    msgs = await answers(store, cid)
    assert [len(m.data) for m in msgs] == [MESSAGE_BYTES, MESSAGE_BYTES + TAG]
    assert [m.total_size for m in msgs] == [len(data), 0]  # the size rides on the first only
    assert b"".join(m.data for m in msgs) == data


async def test_a_range_is_served_exactly(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    data = os.urandom(3 * MESSAGE_BYTES + 5)
    cid = chunk_id(data)
    store.put(cid, data)
    msgs = await answers(store, cid, MESSAGE_BYTES - 7, MESSAGE_BYTES + 100)
    assert b"".join(m.data for m in msgs) == data[MESSAGE_BYTES - 7 : 2 * MESSAGE_BYTES + 93]
    assert msgs[0].total_size == len(data)


async def test_an_empty_chunk_is_one_message_with_its_size(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    cid = chunk_id(b"")
    store.put(cid, b"")
    msgs = await answers(store, cid)
    assert [(m.data, m.total_size) for m in msgs] == [(b"", 0)]


async def test_a_corrupt_chunk_fails_before_its_last_message(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    data = os.urandom(3 * MESSAGE_BYTES)
    cid = chunk_id(data)
    store.put(cid, data)
    with open(store.path_of(cid), "r+b") as f:  # damage in the last message's bytes
        f.seek(len(data) - 1)
        f.write(bytes([data[-1] ^ 0xFF]))
    got = bytearray()
    with pytest.raises(DataLoss, match="corrupt"), store.open_reader(cid) as reader:
        async for raw in get_stream.messages(reader):
            got += storage_pb2.GetChunkResponse.FromString(raw).data
    assert len(got) < len(data)
    assert not store.path_of(cid).exists()  # quarantined


async def test_a_get_dropped_early_lets_its_read_ahead_finish(tmp_path: Path) -> None:
    """The reader is closed after the stream; the read in flight must be done by then, or it
    would read a closed (and maybe reused) descriptor."""
    store = make_store(tmp_path)
    data = os.urandom(4 * MESSAGE_BYTES)
    cid = chunk_id(data)
    store.put(cid, data)
    with store.open_reader(cid) as reader:
        stream = get_stream.messages(reader)
        await anext(stream)
        await stream.aclose()
        assert reader.position == 2 * MESSAGE_BYTES  # the read-ahead ran to its end


async def test_a_get_cancelled_mid_read_closes_its_file_only_after_the_read(
    tmp_path: Path,
) -> None:
    """A client that hangs up cancels the call while a read runs in a worker thread; the file
    must stay open until that read is done (a reused descriptor would feed it another file's
    bytes, fail the hash and quarantine the good copy)."""
    store = make_store(tmp_path)
    data = os.urandom(3 * MESSAGE_BYTES)
    cid = chunk_id(data)
    store.put(cid, data)
    events: list[str] = []
    reading, closing = threading.Event(), threading.Event()
    reader = store.open_reader(cid)
    read_piece, close = reader.read_piece, reader.close

    def slow_read(size: int) -> bytes:
        if reader.position > 0:  # the read-ahead: hold it until the reader is being closed
            reading.set()
            closing.wait(timeout=1.0)  # never set when the close waits for us, as it must
        piece = read_piece(size)
        events.append("read")
        return piece

    def logged_close() -> None:
        closing.set()
        events.append("close")
        close()

    reader.read_piece = slow_read  # type: ignore[method-assign]
    reader.close = logged_close  # type: ignore[method-assign]

    async def serve() -> None:
        # as the servicer holds them: the stream is closed before the reader
        with reader:
            async with contextlib.aclosing(get_stream.messages(reader)) as messages:
                async for _ in messages:
                    await asyncio.Event().wait()  # the send that never completes

    task = asyncio.create_task(serve())
    await asyncio.to_thread(reading.wait, 5.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events == ["read", "read", "close"]
    assert store.path_of(cid).exists()


async def test_a_chunk_that_fits_one_message_costs_one_thread_step(tmp_path: Path, monkeypatch):
    store = make_store(tmp_path)
    data = os.urandom(64 << 10)
    cid = chunk_id(data)
    store.put(cid, data)
    steps: list[str] = []
    to_thread = asyncio.to_thread

    async def counted(fn, /, *args, **kwargs):
        steps.append(fn.__name__)
        return await to_thread(fn, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counted)
    reader, first = await get_stream.open_first_async(store, cid, 0, 0)
    with reader:
        raw = [m async for m in get_stream.messages(reader, first)]
    assert steps == ["open_first"]
    (msg,) = [storage_pb2.GetChunkResponse.FromString(r) for r in raw]
    assert msg.data == data and msg.total_size == len(data)


async def test_a_default_chunk_after_open_first_reads_no_step_past_its_end(
    tmp_path: Path, monkeypatch
) -> None:
    store = make_store(tmp_path)
    data = os.urandom(2 * MESSAGE_BYTES + TAG)
    cid = chunk_id(data)
    store.put(cid, data)
    reads: list[int] = []
    read_message = get_stream.read_message

    def counted(reader, *, first):
        reads.append(reader.position)
        return read_message(reader, first=first)

    monkeypatch.setattr(get_stream, "read_message", counted)
    reader, first = await get_stream.open_first_async(store, cid, 0, 0)
    with reader:
        msgs = [
            storage_pb2.GetChunkResponse.FromString(r)
            async for r in get_stream.messages(reader, first)
        ]
    assert b"".join(m.data for m in msgs) == data
    assert reads == [0, MESSAGE_BYTES]  # two reads for two messages, none to find the end


async def test_a_get_cancelled_while_opening_closes_what_the_thread_opened(
    tmp_path: Path, monkeypatch
) -> None:
    store = make_store(tmp_path)
    data = os.urandom(1000)
    cid = chunk_id(data)
    store.put(cid, data)
    started, release = threading.Event(), threading.Event()
    opened: list = []
    open_reader = store.open_reader

    def slow_open(*args):
        started.set()
        release.wait(5.0)
        reader = open_reader(*args)
        opened.append(reader)
        return reader

    monkeypatch.setattr(store, "open_reader", slow_open)
    task = asyncio.create_task(get_stream.open_first_async(store, cid, 0, 0))
    await asyncio.to_thread(started.wait, 5.0)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):  # the thread finishes on its own; its callback closes the reader
        if opened and opened[0]._fd < 0:
            break
        await asyncio.sleep(0.01)
    assert opened and opened[0]._fd < 0
