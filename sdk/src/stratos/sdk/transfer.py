"""The gRPC edge of the SDK: cached channels, chunk upload/download and index calls.

Everything that touches the network for the client lives here, so `client.py` can speak in
chunks and manifests. Each call has its own deadline; every gRPC failure becomes a StratosError
sentence here and nowhere else. A downloaded chunk is hashed before it is handed on, so a node
that returns the wrong bytes is caught even if it did not notice itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from stratos.common import grpcutil
from stratos.common.errors import (
    AlreadyExists,
    DataLoss,
    InvalidArgument,
    StratosError,
    Unavailable,
    from_grpc,
)
from stratos.common.hashing import new_hasher
from stratos.common.tickets import Bearer
from stratos.v1 import index_pb2_grpc, storage_pb2, storage_pb2_grpc

PIECE_BYTES = 1024 * 1024
BASE_DEADLINE_S = 30.0
MIN_RATE_BYTES_PER_S = 1024 * 1024  # deadlines allow at least this throughput on top of the base
INDEX_DEADLINE_S = 15.0


def transfer_deadline(size: int) -> float:
    """Seconds allowed for moving `size` bytes to or from one node."""
    return BASE_DEADLINE_S + size / MIN_RATE_BYTES_PER_S


class Channels:
    """One grpc.aio channel per address over `credentials` (the mesh's TLS), opened on first use
    and closed together."""

    def __init__(self, credentials: grpc.ChannelCredentials) -> None:
        self._credentials = credentials
        self._channels: dict[str, grpc.aio.Channel] = {}

    def get(self, address: str) -> grpc.aio.Channel:
        ch = self._channels.get(address)
        if ch is None:
            ch = self._channels[address] = grpcutil.channel(address, self._credentials)
        return ch

    def forget(self, address: str) -> None:
        """Drop a channel without awaiting its close (the next use reconnects afresh)."""
        self._channels.pop(address, None)

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for ch in channels:
            await ch.close()


async def _pieces(
    header: storage_pb2.PutChunkHeader, data: bytes
) -> AsyncIterator[storage_pb2.PutChunkRequest]:
    # The first piece rides with the header: a small chunk is one message, one write step.
    view = memoryview(data)
    yield storage_pb2.PutChunkRequest(header=header, data=bytes(view[:PIECE_BYTES]))
    for start in range(PIECE_BYTES, len(data), PIECE_BYTES):
        yield storage_pb2.PutChunkRequest(data=bytes(view[start : start + PIECE_BYTES]))


async def put_chunk(
    channels: Channels,
    address: str,
    chunk_id: str,
    data: bytes,
    *,
    node_id: str = "",
    bearer: Bearer | None = None,
) -> storage_pb2.PutChunkResponse:
    """Store `data` under `chunk_id` on the node `node_id` at `address`, under `bearer`'s
    ticket; returns once it is fsync'd."""
    stub = storage_pb2_grpc.StorageServiceStub(channels.get(address))
    header = storage_pb2.PutChunkHeader(chunk_id=chunk_id, size=len(data))
    if bearer is not None:
        header.auth.CopyFrom(bearer.prove("PutChunk", node_id, chunk_id, str(len(data))))
    try:
        resp = await stub.PutChunk(_pieces(header, data), timeout=transfer_deadline(len(data)))
    except grpc.RpcError as err:
        raise from_grpc(err, peer=address) from None
    if resp.chunk_id and resp.chunk_id != chunk_id:
        raise DataLoss(f"the node at {address} acknowledged chunk {resp.chunk_id} for {chunk_id}")
    return resp


async def get_chunk(
    channels: Channels,
    address: str,
    chunk_id: str,
    expected_size: int,
    *,
    node_id: str = "",
    bearer: Bearer | None = None,
) -> bytearray:
    """The whole chunk from the node `node_id` at `address` (under `bearer`'s ticket), checked
    against its ID.

    The buffer is allocated once at its final size: growing it piece by piece would briefly
    hold two copies of every chunk in flight."""
    stub = storage_pb2_grpc.StorageServiceStub(channels.get(address))
    buf = bytearray(expected_size)
    view = memoryview(buf)
    got = 0
    hasher = new_hasher()
    request = storage_pb2.GetChunkRequest(chunk_id=chunk_id)
    if bearer is not None:
        request.auth.CopyFrom(bearer.prove("GetChunk", node_id, chunk_id, "0", "0"))
    try:
        call = stub.GetChunk(request, timeout=transfer_deadline(expected_size))
        async for msg in call:
            n = len(msg.data)
            if got + n > expected_size:
                call.cancel()
                raise DataLoss(f"the node at {address} sent more bytes than chunk {chunk_id} has")
            view[got : got + n] = msg.data
            hasher.update(msg.data)
            got += n
    except grpc.RpcError as err:
        raise from_grpc(err, peer=address) from None
    finally:
        view.release()
    if got != expected_size or hasher.hexdigest() != chunk_id:
        raise DataLoss(f"the node at {address} returned corrupt bytes for chunk {chunk_id}")
    return buf


async def chunk_count(channels: Channels, address: str) -> int:
    """How many chunks the node at `address` holds (for tests and diagnostics)."""
    stub = storage_pb2_grpc.StorageServiceStub(channels.get(address))
    try:
        resp = await stub.Stat(storage_pb2.StatRequest(), timeout=INDEX_DEADLINE_S)
    except grpc.RpcError as err:
        raise from_grpc(err, peer=address) from None
    return resp.chunk_count


class IndexClient:
    """Calls the index, failing over to the next address when one is unreachable.

    Only UNAVAILABLE moves on: any other answer is the index's word and is final. The address
    that last answered is tried first next time."""

    def __init__(self, addresses: Sequence[str], channels: Channels) -> None:
        if not addresses:
            raise InvalidArgument("no index address was given")
        self._addresses = list(addresses)
        self._channels = channels
        self._first = 0

    async def call(self, method: str, request: Any, *, timeout: float = INDEX_DEADLINE_S) -> Any:
        failures: list[str] = []
        n = len(self._addresses)
        for step in range(n):
            i = (self._first + step) % n
            address = self._addresses[i]
            stub = index_pb2_grpc.IndexServiceStub(self._channels.get(address))
            try:
                resp = await getattr(stub, method)(request, timeout=timeout)
            except grpc.RpcError as err:
                mapped = from_grpc(err, peer=address)
                if err.code() == grpc.StatusCode.UNAVAILABLE:
                    if not mapped.message.startswith("cannot reach"):
                        failures.append(mapped.message)
                    continue
                if step and isinstance(mapped, AlreadyExists):
                    # A failed-over retry of a call the previous replica may have finished.
                    raise RetriedAlreadyExists(mapped.message) from None
                raise mapped from None
            self._first = i
            return resp
        where = ", ".join(self._addresses)
        if failures:
            raise Unavailable(f"no index at {where} could answer: {failures[-1]}")
        raise Unavailable(f"cannot reach the index at {where}; is the mesh running?")


class RetriedAlreadyExists(AlreadyExists):
    """AlreadyExists returned after a failover: our own earlier attempt may have succeeded."""


def describe(err: BaseException) -> str:
    """A short sentence for a failure, whatever it is."""
    if isinstance(err, StratosError):
        return err.message
    return f"{type(err).__name__}: {err}"
