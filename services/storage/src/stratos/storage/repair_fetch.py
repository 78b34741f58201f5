"""Pulling chunks from other storage nodes over gRPC, for repair.

A copy streams GetChunk's pieces straight into the local store's writer, which hashes and writes
each piece as it comes, so a chunk of any size passes through a piece at a time. Every piece
first draws from the node's repair rate limiter. Each fetch is made with the job's ticket (a GET
ticket the index issued to this node's key, for the job's sources) and signed by this node.
After a verified fetch the source is handed this node's receipt for the bytes (repair traffic
is paid by the network: its ticket names no payer). Whatever goes wrong on the *source's* side
(it is unreachable, lacks the chunk, sends bytes that do not hash to the ID) is raised as a
`SourceError` carrying whether another attempt may succeed; trouble on *this* node (disk full)
propagates unchanged, since trying another source would not help.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import grpc

from stratos.common import grpcutil, receipts
from stratos.common.errors import DataLoss, InvalidArgument, StratosError, from_grpc
from stratos.common.hashing import new_hasher
from stratos.common.identity import Identity
from stratos.common.tickets import Bearer
from stratos.storage.activity import REPAIR_METADATA
from stratos.storage.chunkstore import ChunkWriter, PutResult
from stratos.storage.ratelimit import AdaptiveLimiter, RateLimiter
from stratos.storage.repair_errors import SourceError
from stratos.v1 import receipt_pb2, repair_pb2, storage_pb2, storage_pb2_grpc, ticket_pb2

BASE_DEADLINE_S = 30.0
RECEIPT_TIMEOUT_S = 10.0
DECLINED_FOR_S = 60.0  # a source whose mesh keeps no receipts is sent none for this long
MAX_RECEIPTS_IN_FLIGHT = 64


class Channels:
    """One gRPC channel per peer address over `credentials` (mutual TLS with the node's own
    certificate), reused across jobs, closed together (when the `async with Channels(...)`
    block is left, or by `close()`)."""

    def __init__(self, credentials: grpc.ChannelCredentials) -> None:
        self._credentials = credentials
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Channels:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def get(self, address: str) -> grpc.aio.Channel:
        ch = self._channels.get(address)
        if ch is None:
            ch = self._channels[address] = grpcutil.channel(address, self._credentials)
        return ch

    def forget(self, address: str) -> None:
        """Drop a channel to an unreachable peer: the next attempt reconnects at once instead of
        waiting out the channel's reconnect back-off."""
        ch = self._channels.pop(address, None)
        if ch is not None:
            task = asyncio.ensure_future(ch.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for ch in channels:
            await ch.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


class Puller:
    """Fetches chunks from peers, rate limited, with deadlines sized for the limited rate."""

    def __init__(
        self,
        channels: Channels,
        limiter: RateLimiter | AdaptiveLimiter,
        *,
        min_rate_bytes_s: float,
        identity: Identity | None = None,
    ) -> None:
        self.identity = identity  # signs each fetch made with a job's ticket
        self.channels = channels
        self.limiter = limiter
        self.min_rate_bytes_s = min_rate_bytes_s
        self._receipts: set[asyncio.Task] = set()  # hand-overs in flight (bounded)
        self._declined: dict[str, float] = {}  # source → until when it is sent no receipts

    def _paid(
        self,
        source: repair_pb2.ChunkSource,
        chunk_id: str,
        size: int,
        ticket: ticket_pb2.SignedTicket | None,
    ) -> None:
        """A verified fetch under a job's ticket: the source gets this node's receipt for it
        (the network pays repair traffic: the ticket names no payer). Best effort, off the
        job's path: a receipt that cannot be handed over costs the source its pay, never the
        repair."""
        if ticket is None or not ticket.ticket or self.identity is None or size <= 0:
            return
        if len(self._receipts) >= MAX_RECEIPTS_IN_FLIGHT:
            return
        if self._declined.get(source.node_id, 0.0) > time.monotonic():
            return  # its mesh keeps no receipts (no incentive service): nothing to sign
        signed = receipts.sign(
            self.identity,
            ticket,
            chunk_id=chunk_id,
            node_id=source.node_id,
            action=ticket_pb2.TICKET_ACTION_GET,
            nbytes=size,
            serial=secrets.randbits(48),
        )
        request = receipt_pb2.SubmitReceiptsRequest(tickets=[ticket], receipts=[signed])
        stub = storage_pb2_grpc.StorageServiceStub(self.channels.get(source.address))

        async def hand_over() -> None:
            try:
                await stub.SubmitReceipts(request, timeout=RECEIPT_TIMEOUT_S)
            except grpc.RpcError as err:
                if err.code() in (
                    grpc.StatusCode.FAILED_PRECONDITION,
                    grpc.StatusCode.UNIMPLEMENTED,
                ):
                    self._declined[source.node_id] = time.monotonic() + DECLINED_FOR_S
            except TimeoutError:
                pass

        task = asyncio.get_running_loop().create_task(hand_over())
        self._receipts.add(task)
        task.add_done_callback(self._receipts.discard)

    def deadline_s(self, size: int) -> float:
        return BASE_DEADLINE_S + size / self.min_rate_bytes_s

    def _call(
        self,
        source: repair_pb2.ChunkSource,
        chunk_id: str,
        size: int,
        ticket: ticket_pb2.SignedTicket | None,
    ):
        stub = storage_pb2_grpc.StorageServiceStub(self.channels.get(source.address))
        request = storage_pb2.GetChunkRequest(chunk_id=chunk_id)
        if ticket is not None and ticket.ticket and self.identity is not None:
            request.auth.CopyFrom(
                Bearer(self.identity, ticket).prove("GetChunk", source.node_id, chunk_id, "0", "0")
            )
        return stub.GetChunk(
            request,
            timeout=self.deadline_s(size),
            metadata=(REPAIR_METADATA,),
        )

    def _source_error(self, source: repair_pb2.ChunkSource, err: BaseException) -> SourceError:
        if isinstance(err, grpc.RpcError):
            if err.code() == grpc.StatusCode.UNAVAILABLE:
                self.channels.forget(source.address)
            err = from_grpc(err, peer=source.address)
        return SourceError.of(source.node_id, err)

    async def copy_into(
        self,
        source: repair_pb2.ChunkSource,
        chunk_id: str,
        size: int,
        writer: ChunkWriter,
        ticket: ticket_pb2.SignedTicket | None = None,
    ) -> PutResult:
        """Stream the chunk from `source` into `writer` and commit it (durable on return)."""
        call = self._call(source, chunk_id, size, ticket)
        try:
            async for msg in call:
                if msg.total_size and msg.total_size != size:
                    raise DataLoss(
                        f"it holds {msg.total_size} bytes for the chunk, not the expected {size}"
                    )
                await self.limiter.acquire(len(msg.data))
                await asyncio.to_thread(writer.write, msg.data)
            result = await asyncio.to_thread(writer.commit)
            self._paid(source, chunk_id, size, ticket)
            return result
        except InvalidArgument as err:
            # The writer refuses bytes that overflow the size or fail the hash: the source's
            # copy is bad (our own arguments were checked when the write began).
            call.cancel()
            raise SourceError(source.node_id, _corrupt(err), retryable=False) from None
        except (grpc.RpcError, DataLoss) as err:
            call.cancel()
            raise self._source_error(source, err) from None
        except BaseException:
            call.cancel()
            raise

    async def fetch(
        self,
        source: repair_pb2.ChunkSource,
        chunk_id: str,
        size: int,
        ticket: ticket_pb2.SignedTicket | None = None,
    ) -> bytearray:
        """The whole chunk in memory, checked against its ID (for erasure shares)."""
        buf = bytearray(size)
        got = 0
        hasher = new_hasher()
        call = self._call(source, chunk_id, size, ticket)
        try:
            async for msg in call:
                n = len(msg.data)
                if got + n > size:
                    raise DataLoss(f"it sent more than the expected {size} bytes")
                await self.limiter.acquire(n)
                buf[got : got + n] = msg.data
                hasher.update(msg.data)
                got += n
        except (grpc.RpcError, StratosError) as err:
            call.cancel()
            raise self._source_error(source, err) from None
        except BaseException:
            call.cancel()
            raise
        if got != size or hasher.hexdigest() != chunk_id:
            raise SourceError(
                source.node_id, f"it sent corrupt bytes for chunk {chunk_id}", retryable=False
            )
        self._paid(source, chunk_id, size, ticket)
        return buf


def _corrupt(err: InvalidArgument) -> str:
    return f"it sent corrupt bytes ({err.message.rstrip('.')})"
