"""Small chunks travel in one request or answer; a node that does not know those calls (an
older version) is sent streams instead, and the transfer still succeeds."""

from __future__ import annotations

import os

import grpc
import pytest

from stratos.common.hashing import chunk_id
from stratos.sdk import transfer
from stratos.v1 import storage_pb2

SERVICE = "stratos.v1.StorageService"


class OlderNode:
    """PutChunk and GetChunk only, as nodes did before PutSmallChunk and GetSmallChunk."""

    def __init__(self) -> None:
        self.chunks: dict[str, bytes] = {}
        self.calls: list[str] = []

    async def put(self, requests, context):
        self.calls.append("PutChunk")
        header, data = None, b""
        async for r in requests:
            header = header or r.header
            data += r.data
        self.chunks[header.chunk_id] = data
        return storage_pb2.PutChunkResponse(chunk_id=header.chunk_id, size=len(data))

    async def get(self, request, context):
        self.calls.append("GetChunk")
        data = self.chunks[request.chunk_id]
        yield storage_pb2.GetChunkResponse(data=data, total_size=len(data))

    def handlers(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "PutChunk": grpc.stream_unary_rpc_method_handler(
                    self.put,
                    request_deserializer=storage_pb2.PutChunkRequest.FromString,
                    response_serializer=storage_pb2.PutChunkResponse.SerializeToString,
                ),
                "GetChunk": grpc.unary_stream_rpc_method_handler(
                    self.get,
                    request_deserializer=storage_pb2.GetChunkRequest.FromString,
                    response_serializer=storage_pb2.GetChunkResponse.SerializeToString,
                ),
            },
        )


@pytest.fixture
async def older_node():
    node = OlderNode()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((node.handlers(),))
    port = server.add_secure_port("127.0.0.1:0", grpc.local_server_credentials())
    await server.start()
    yield node, f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.mark.integration  # a real gRPC server on loopback
async def test_an_older_node_is_sent_streams_and_the_chunk_still_travels(older_node):
    node, address = older_node
    channels = transfer.Channels(grpc.local_channel_credentials())
    data = os.urandom(64 << 10)
    cid = chunk_id(data)
    try:
        assert channels.small_calls(address, len(data))
        resp = await transfer.put_chunk(channels, address, cid, data)
        assert resp.chunk_id == cid and address in channels.streams_only
        assert await transfer.get_chunk(channels, address, cid, len(data)) == data
        assert node.calls == ["PutChunk", "GetChunk"]  # streams from the first refusal on
        channels.forget(address)  # a new connection may find the node upgraded
        assert channels.small_calls(address, len(data))
    finally:
        await channels.close()


def test_only_chunks_that_fit_one_message_are_sent_whole():
    channels = transfer.Channels(grpc.local_channel_credentials())
    assert channels.small_calls("n:1", transfer.SMALL_CHUNK_BYTES)
    assert not channels.small_calls("n:1", transfer.SMALL_CHUNK_BYTES + 1)
