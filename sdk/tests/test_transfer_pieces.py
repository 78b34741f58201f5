"""An upload's pieces are made once, as PutChunk wire messages that carry the chunk in order;
the first piece rides in the header's message."""

from __future__ import annotations

import asyncio
import os

import pytest

from stratos.sdk import transfer
from stratos.v1 import storage_pb2


@pytest.mark.parametrize("size", [0, 1, transfer.PIECE_BYTES, 4 * transfer.PIECE_BYTES + 16])
def test_prepared_pieces_are_put_messages_that_rebuild_the_chunk(size):
    data = os.urandom(size)
    chunk = transfer.PreparedChunk.of(data)
    assert len(chunk) == size
    messages = [storage_pb2.PutChunkRequest.FromString(m) for m in chunk.messages]
    assert not any(m.HasField("header") for m in messages)
    assert all(len(m.data) <= transfer.PIECE_BYTES for m in messages)
    assert b"".join(m.data for m in messages) == data

    header = storage_pb2.PutChunkHeader(chunk_id="c" * 64, size=size)

    async def sent() -> list[storage_pb2.PutChunkRequest]:
        return [
            storage_pb2.PutChunkRequest.FromString(m) async for m in transfer._pieces(header, chunk)
        ]

    wire = asyncio.run(sent())
    assert wire[0].header == header and all(not m.HasField("header") for m in wire[1:])
    assert len(wire) == max(1, len(chunk.messages))
    assert b"".join(m.data for m in wire) == data
