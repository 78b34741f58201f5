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

from stratos.common import chunkwire
from stratos.storage.chunkstore import ChunkReader

MESSAGE_BYTES = 2 * 1024 * 1024


def next_read(remaining: int, message_bytes: int = MESSAGE_BYTES) -> int:
    """How many of the `remaining` bytes of a range the next message carries: one message's
    worth, or all of them when what would be left is a tail shorter than an eighth of a message
    (so a 4 MiB segment's chunk is two messages, not two and one of 16 bytes)."""
    if remaining <= message_bytes + message_bytes // 8:
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


async def messages(reader: ChunkReader) -> AsyncIterator[bytes]:
    """The wire bytes of every GetChunkResponse for `reader`'s range, each read in a worker
    thread while the one before it is sent."""
    pending = asyncio.ensure_future(asyncio.to_thread(read_message, reader, first=True))
    try:
        # Shielded: a dropped call must not abandon the read in its thread (see `finally`).
        while (message := await asyncio.shield(pending)) is not None:
            pending = asyncio.ensure_future(asyncio.to_thread(read_message, reader, first=False))
            yield message
    finally:
        if not pending.done():
            # The caller closes the reader once this returns; let the read in flight finish
            # first, so the descriptor is not closed (and its number reused) under it.
            with contextlib.suppress(BaseException):
                await asyncio.shield(pending)
