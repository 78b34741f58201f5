"""The gRPC edge of the SDK: cached channels, chunk upload/download and index calls.

Everything that touches the network for the client lives here, so `client.py` can speak in
chunks and manifests. Each call has its own deadline; every gRPC failure becomes a StratosError
sentence here and nowhere else. A downloaded chunk is hashed before it is handed on, so a node
that returns the wrong bytes is caught even if it did not notice itself.

The chunk bytes themselves skip the protobuf runtime (`chunkwire`): an upload's pieces are
serialized once (`PreparedChunk`, in the worker thread that encrypted them) and the same bytes go
to every replica; a download reads each piece as a view into gRPC's buffer, and hashes the chunk
in a worker thread, so the event loop only moves buffers and keeps every stream fed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from stratos.common import chunkwire, grpcutil
from stratos.common.errors import (
    AlreadyExists,
    DataLoss,
    InvalidArgument,
    StratosError,
    Unavailable,
    from_grpc,
)
from stratos.common.hashing import chunk_id as hash_chunk
from stratos.common.tickets import Bearer
from stratos.sdk import offload
from stratos.v1 import index_pb2_grpc, storage_pb2, storage_pb2_grpc, ticket_pb2

PIECE_BYTES = 1024 * 1024
BASE_DEADLINE_S = 30.0
MIN_RATE_BYTES_PER_S = 1024 * 1024  # deadlines allow at least this throughput on top of the base
INDEX_DEADLINE_S = 15.0
PUT_CHUNK = "/stratos.v1.StorageService/PutChunk"
GET_CHUNK = "/stratos.v1.StorageService/GetChunk"
PUT_SMALL_CHUNK = "/stratos.v1.StorageService/PutSmallChunk"
PUT_ACTION, GET_ACTION = ticket_pb2.TICKET_ACTION_PUT, ticket_pb2.TICKET_ACTION_GET
GET_SMALL_CHUNK = "/stratos.v1.StorageService/GetSmallChunk"
# Chunks up to this size go in one request or come in one answer (PutSmallChunk, GetSmallChunk):
# a stream's machinery cost a 64 KiB put or get a tenth of a CPU-ms or more at each end.
SMALL_CHUNK_BYTES = 1024 * 1024


def transfer_deadline(size: int) -> float:
    """Seconds allowed for moving `size` bytes to or from one node."""
    return BASE_DEADLINE_S + size / MIN_RATE_BYTES_PER_S


class Channels:
    """One grpc.aio channel per address over `credentials` (the mesh's TLS), opened on first use
    and closed together."""

    def __init__(self, credentials: grpc.ChannelCredentials) -> None:
        self._credentials = credentials
        self._channels: dict[str, grpc.aio.Channel] = {}
        # nodes that answered UNIMPLEMENTED to the small-chunk calls (an older version): they
        # get streams, until their channel is dropped (they may have been upgraded by then)
        self.streams_only: set[str] = set()
        # where verified transfers are recorded for their Proof-of-Traffic receipts (the
        # client's ReceiptSender); None: no receipts (a tool that pays for nothing)
        self.receipts: Any = None

    def get(self, address: str) -> grpc.aio.Channel:
        ch = self._channels.get(address)
        if ch is None:
            ch = self._channels[address] = grpcutil.channel(address, self._credentials)
        return ch

    def forget(self, address: str) -> None:
        """Drop a channel without awaiting its close (the next use reconnects afresh)."""
        self._channels.pop(address, None)
        self.streams_only.discard(address)

    def small_calls(self, address: str, size: int) -> bool:
        """Whether a chunk of `size` bytes goes to or comes from `address` in one message."""
        return size <= SMALL_CHUNK_BYTES and address not in self.streams_only

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for ch in channels:
            await ch.close()


@dataclass(frozen=True)
class PreparedChunk:
    """A chunk's bytes as the wire messages of its PutChunk data pieces, made once and sent to
    every node that stores a copy. `len()` is the chunk's size."""

    size: int
    messages: tuple[bytes, ...]

    @classmethod
    def of(cls, data: bytes | bytearray | memoryview) -> PreparedChunk:
        view = memoryview(data)
        return cls(
            size=len(view),
            messages=tuple(
                chunkwire.data_message(chunkwire.PUT_DATA_FIELD, view[start : start + PIECE_BYTES])
                for start in range(0, len(view), PIECE_BYTES)
            ),
        )

    def __len__(self) -> int:
        return self.size


def _first_message(header: storage_pb2.PutChunkHeader, chunk: PreparedChunk) -> bytes:
    """The header with the first piece riding along: all of a small chunk in one message, one
    write step. A message's fields are concatenated encodings, so the header's bytes go before
    the piece's."""
    head = storage_pb2.PutChunkRequest(header=header).SerializeToString()
    return head + chunk.messages[0] if chunk.messages else head


async def _pieces(header: storage_pb2.PutChunkHeader, chunk: PreparedChunk) -> AsyncIterator[bytes]:
    yield _first_message(header, chunk)
    for message in chunk.messages[1:]:
        yield message


def _get_response(raw: bytes) -> chunkwire.Fields | None:
    """A GetChunkResponse read in place; None when it does not parse (gRPC would log a
    deserializer's exception and hand on None all the same)."""
    try:
        return chunkwire.parse_data(raw, chunkwire.GET_DATA_FIELD)
    except StratosError:
        return None


async def put_chunk(
    channels: Channels,
    address: str,
    chunk_id: str,
    data: bytes | PreparedChunk,
    *,
    node_id: str = "",
    bearer: Bearer | None = None,
) -> storage_pb2.PutChunkResponse:
    """Store `data` under `chunk_id` on the node `node_id` at `address`, under `bearer`'s
    ticket; returns once it is fsync'd."""
    chunk = data if isinstance(data, PreparedChunk) else PreparedChunk.of(data)
    header = storage_pb2.PutChunkHeader(chunk_id=chunk_id, size=chunk.size)
    if bearer is not None:
        header.auth.CopyFrom(bearer.prove("PutChunk", node_id, chunk_id, str(chunk.size)))
    deadline = transfer_deadline(chunk.size)
    try:
        resp = None
        if channels.small_calls(address, chunk.size):
            resp = await _unless_unimplemented(
                channels,
                address,
                channels.get(address).unary_unary(
                    PUT_SMALL_CHUNK,
                    request_serializer=None,  # wire bytes already
                    response_deserializer=storage_pb2.PutChunkResponse.FromString,
                )(_first_message(header, chunk), timeout=deadline),
            )
        if resp is None:
            call = channels.get(address).stream_unary(
                PUT_CHUNK,
                request_serializer=None,  # the messages are wire bytes already
                response_deserializer=storage_pb2.PutChunkResponse.FromString,
            )
            resp = await call(_pieces(header, chunk), timeout=deadline)
    except grpc.RpcError as err:
        raise from_grpc(err, peer=address) from None
    if resp.chunk_id and resp.chunk_id != chunk_id:
        raise DataLoss(f"the node at {address} acknowledged chunk {resp.chunk_id} for {chunk_id}")
    _received(channels, bearer, address, node_id, chunk_id, PUT_ACTION, chunk.size)
    return resp


def _received(
    channels: Channels,
    bearer: Bearer | None,
    address: str,
    node_id: str,
    chunk_id: str,
    action: int,
    nbytes: int,
) -> None:
    """A verified transfer: recorded for its receipt, when this client signs receipts."""
    if bearer is not None and channels.receipts is not None:
        channels.receipts.record(bearer.ticket, address, node_id, chunk_id, action, nbytes)


async def _unless_unimplemented(channels: Channels, address: str, call: Any) -> Any:
    """The answer of a small-chunk call, or None when the node does not know the method (it
    is then sent streams from now on)."""
    try:
        return await call
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.UNIMPLEMENTED:
            raise
        channels.streams_only.add(address)
        return None


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
    request = storage_pb2.GetChunkRequest(chunk_id=chunk_id)
    if bearer is not None:
        request.auth.CopyFrom(bearer.prove("GetChunk", node_id, chunk_id, "0", "0"))
    if channels.small_calls(address, expected_size):
        try:
            small = await _unless_unimplemented(
                channels,
                address,
                channels.get(address).unary_unary(
                    GET_SMALL_CHUNK,
                    request_serializer=storage_pb2.GetChunkRequest.SerializeToString,
                    response_deserializer=_get_response,
                )(request, timeout=transfer_deadline(expected_size)),
            )
        except grpc.RpcError as err:
            raise from_grpc(err, peer=address) from None
        if small is not None:
            data = _one_answer(small, address, chunk_id)
            if len(data) != expected_size:
                raise DataLoss(
                    f"the node at {address} sent {len(data)} bytes of chunk {chunk_id}, "
                    f"which has {expected_size}"
                )
            checked = await _checked(bytearray(data), chunk_id, address)
            _received(channels, bearer, address, node_id, chunk_id, GET_ACTION, len(checked))
            return checked
    get = channels.get(address).unary_stream(
        GET_CHUNK,
        request_serializer=storage_pb2.GetChunkRequest.SerializeToString,
        response_deserializer=_get_response,
    )
    buf = bytearray(expected_size)
    view = memoryview(buf)
    got = 0
    try:
        call = get(request, timeout=transfer_deadline(expected_size))
        async for msg in call:
            if msg is None:
                call.cancel()
                raise DataLoss(f"the node at {address} sent a malformed piece of chunk {chunk_id}")
            n = len(msg.data)
            if got + n > expected_size:
                call.cancel()
                raise DataLoss(f"the node at {address} sent more bytes than chunk {chunk_id} has")
            view[got : got + n] = msg.data
            got += n
    except grpc.RpcError as err:
        raise from_grpc(err, peer=address) from None
    finally:
        view.release()
    if got != expected_size:
        raise DataLoss(f"the node at {address} returned corrupt bytes for chunk {chunk_id}")
    checked = await _checked(buf, chunk_id, address)
    _received(channels, bearer, address, node_id, chunk_id, GET_ACTION, expected_size)
    return checked


def _one_answer(msg: chunkwire.Fields | None, address: str, chunk_id: str) -> memoryview | bytes:
    if msg is None:
        raise DataLoss(f"the node at {address} sent a malformed answer for chunk {chunk_id}")
    return msg.data


async def _checked(buf: bytearray, chunk_id: str, address: str) -> bytearray:
    """`buf` when its hash is `chunk_id`. blake3 releases the GIL: a large chunk is hashed off
    the loop, which goes on feeding the other transfers meanwhile."""
    if await offload.run(len(buf), hash_chunk, buf) != chunk_id:
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
        # address -> (its channel, a stub on it): a stub makes a callable per method, which
        # cost a small get ~0.1 ms when made for every call
        self._stubs: dict[str, tuple[grpc.aio.Channel, index_pb2_grpc.IndexServiceStub]] = {}

    def _stub(self, address: str) -> index_pb2_grpc.IndexServiceStub:
        channel = self._channels.get(address)
        cached = self._stubs.get(address)
        if cached is None or cached[0] is not channel:  # first use, or the channel was replaced
            cached = self._stubs[address] = (channel, index_pb2_grpc.IndexServiceStub(channel))
        return cached[1]

    async def call(self, method: str, request: Any, *, timeout: float = INDEX_DEADLINE_S) -> Any:
        failures: list[str] = []
        n = len(self._addresses)
        for step in range(n):
            i = (self._first + step) % n
            address = self._addresses[i]
            try:
                resp = await getattr(self._stub(address), method)(request, timeout=timeout)
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
