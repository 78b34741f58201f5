"""GetChunk's answer as the bytes gRPC sends: framed in the read thread, 2 MiB per message,
one message read ahead of the send.

A 256 MiB get cost each storage node about 1 CPU-second per GiB (issue 12). perf on the nodes
put 14 % of it in memmove, 10 % in thread switches and 25 % in the interpreter: every 1 MiB
piece took a worker-thread hop, then a protobuf message was built and serialized on the event
loop (two more copies), and the 16-byte tail of each default chunk (a 4 MiB segment plus its
tag) went as a message, and a hop, of its own. Here one worker step reads a message of up to
`MESSAGE_BYTES`, a short tail riding with the message before it, and frames it with
`chunkwire` right there; the event loop only hands the ready `bytes` to gRPC (GetChunk's
response serializer is the identity: `servicer.register`). Clients and repair read an ordinary
`GetChunkResponse`; protobuf's own parser reads it as well as `chunkwire` does.

The range is opened and its first message read in one worker step (`open_first`), and no step
is spent discovering the end: a small file's chunk costs a get one thread hop instead of three
(a hop costs ~130 µs of CPU on this machine, measured on a bare grpc.aio server).

The read of message N+1 runs while message N is sent, never further ahead, so a stream holds
at most two messages (under 5 MiB) and a node's memory stays bounded by its concurrent gets.
Measured with four clients getting 256 MiB at once: a node peaked at ~145 MB, as before this
module. 4 MiB messages, or two messages per step, took it past 150 MB and faulted fresh pages in
for every message, which cost more CPU than the fewer hops saved.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import NamedTuple

from stratos.common import chunkwire
from stratos.storage.chunkstore import ChunkReader, ChunkStore

MESSAGE_BYTES = 2 * 1024 * 1024
ONE_MESSAGE_BYTES = MESSAGE_BYTES + MESSAGE_BYTES // 8  # the largest range one message carries


class Opened(NamedTuple):
    reader: ChunkReader
    first: bytes  # the first GetChunkResponse's wire bytes, already read


def next_read(remaining: int, message_bytes: int = MESSAGE_BYTES) -> int:
    """How many of the `remaining` bytes of a range the next message carries: one message's
    worth, or all of them when what would be left is a tail shorter than an eighth of a message
    (so a 4 MiB segment's chunk is two messages, not two and one of 16 bytes)."""
    if remaining <= message_bytes + message_bytes // 8:  # ONE_MESSAGE_BYTES, by default
        return remaining
    return message_bytes


def read_message(reader: ChunkReader, *, first: bool) -> bytes | None:
    """The next GetChunkResponse's wire bytes (blocking: a worker thread calls this); None once
    the range is done. The first message carries the chunk's size, and goes out even for an
    empty range."""
    data = reader.read_piece(next_read(reader.end - reader.position))
    if not first:
        return chunkwire.data_message(chunkwire.GET_DATA_FIELD, data) if data else None
    return chunkwire.data_message(
        chunkwire.GET_DATA_FIELD, data, **{f"f{chunkwire.GET_TOTAL_SIZE_FIELD}": reader.total_size}
    )


def open_first(store: ChunkStore, chunk_id: str, offset: int, length: int) -> Opened:
    """Open the range and read its first message in one worker step (blocking): a chunk that
    fits one message — every small file's — costs a get one thread hop, not three."""
    reader = store.open_reader(chunk_id, offset, length)
    try:
        first = read_message(reader, first=True)
    except BaseException:
        reader.close()
        raise
    assert first is not None  # the first message always goes out
    return Opened(reader, first)


async def open_first_async(store: ChunkStore, chunk_id: str, offset: int, length: int) -> Opened:
    """`open_first` in a worker thread. A call cancelled meanwhile still closes what the thread
    opened, once it has."""
    step = asyncio.ensure_future(asyncio.to_thread(open_first, store, chunk_id, offset, length))
    try:
        return await asyncio.shield(step)
    except asyncio.CancelledError:
        step.add_done_callback(_close_opened)
        raise


def _close_opened(step: asyncio.Future[Opened]) -> None:
    if not step.cancelled() and step.exception() is None:
        step.result().reader.close()


async def messages(reader: ChunkReader, first: bytes | None = None) -> AsyncIterator[bytes]:
    """The wire bytes of every GetChunkResponse for `reader`'s range, each read in a worker
    thread while the one before it is sent; `first`, when `open_first` already read it. No
    step is spent finding out that the range is done: the read that reaches its end (and checks
    the hash, on a reader that verifies as it reads) says so."""
    if first is None:
        first = await asyncio.to_thread(read_message, reader, first=True)
    message: bytes | None = first
    pending: asyncio.Future[bytes | None] | None = None
    try:
        while message is not None:
            done = reader.position >= reader.end  # no read is in flight here
            if not done:
                pending = asyncio.ensure_future(
                    asyncio.to_thread(read_message, reader, first=False)
                )
            yield message
            if done:
                return
            assert pending is not None
            # Shielded: a dropped call must not abandon the read in its thread (see `finally`).
            message = await asyncio.shield(pending)
    finally:
        if pending is not None and not pending.done():
            # The caller closes the reader once this returns; let the read in flight finish
            # first, so the descriptor is not closed (and its number reused) under it.
            with contextlib.suppress(BaseException):
                await asyncio.shield(pending)
