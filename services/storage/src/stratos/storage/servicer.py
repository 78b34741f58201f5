"""The gRPC edge of a storage node: translates StorageService calls into ChunkStore calls.

Blocking disk work runs in worker threads so one slow disk write never stalls other calls.
An upload overlaps receiving piece N+1 with hashing and writing piece N, at most one piece
ahead, which keeps throughput near disk speed and memory at a few MiB per stream. A small chunk
comes whole in the header's message (or in PutSmallChunk's one request) and is opened, written,
fsync'd and renamed in one worker-thread step once its stream has ended. Only
`max_active_puts` uploads run at once (the others wait, unread, in the transport's small
flow-control window), so the node's memory stays bounded however many clients push at once;
an upload that goes silent is dropped so it cannot hold its slot forever.

PutChunk, GetChunk, DeleteChunk, ListChunks and Audit run only under a ticket (`TicketCheck`),
checked before the disk is touched. HasChunks and Stat answer anyone: whether a chunk one can
already name is here, and the capacity figures every heartbeat publishes, hand out no data.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import grpc

from stratos.common.errors import DeadlineExceeded, InvalidArgument, TooLarge, Unavailable
from stratos.common.grpcutil import rpc_edge
from stratos.common.logging import get_logger
from stratos.common.tickets import Ticket, audit_fields
from stratos.common.tracing import tracer
from stratos.storage import get_stream
from stratos.storage.activity import Activity, is_repair
from stratos.storage.audit import Range, answer_audit
from stratos.storage.chunkstore import ChunkStore, ChunkWriter, PutResult
from stratos.storage.receipts_in import ReceiptDesk
from stratos.storage.ticket_check import TicketCheck
from stratos.v1 import receipt_pb2, storage_pb2, storage_pb2_grpc, ticket_pb2

log = get_logger(__name__)
_tracer = tracer(__name__)

SERVICE_NAME = "stratos.v1.StorageService"
# ListChunks pages: the default when the request says 0, and the most one message may carry.
LIST_PAGE_DEFAULT = 1000
LIST_PAGE_MAX = 10_000
# A healthy client streams a chunk's pieces back to back; this long without one means it hung.
IDLE_TIMEOUT_S = 30.0
SMALL_CHUNK_BYTES = 1024 * 1024  # the most a PutSmallChunk request carries


class StorageService(storage_pb2_grpc.StorageServiceServicer):
    def __init__(
        self,
        store: ChunkStore,
        *,
        zone: str,
        tickets: TicketCheck | None,
        receipts: ReceiptDesk | None = None,
        max_active_puts: int = 4,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        self.store = store
        self.zone = zone
        self.tickets = tickets  # None only until the admission list is wired (ticket_check)
        self.receipts = receipts  # None until NATS is wired (receipts_in)
        self.idle_timeout_s = idle_timeout_s
        self._put_slots = asyncio.Semaphore(max_active_puts)
        self.activity = Activity()  # client transfers, which repair yields to

    @rpc_edge
    async def PutChunk(
        self,
        request_iterator: AsyncIterator[storage_pb2.PutChunkRequest],
        context: grpc.aio.ServicerContext,
    ) -> storage_pb2.PutChunkResponse:
        async with self._put_slots:
            with self.activity.transfer():
                messages = _Messages(request_iterator, self.idle_timeout_s)
                first = await messages.next()
                if first is None or not first.HasField("header"):
                    raise InvalidArgument("the first PutChunk message must carry the header")
                result = await self._put(first, messages)
        return _put_answer(result)

    @rpc_edge
    async def PutSmallChunk(
        self, request: storage_pb2.PutChunkRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.PutChunkResponse:
        """PutChunk in one message: the header and every byte."""
        if not request.HasField("header"):
            raise InvalidArgument("a PutSmallChunk request must carry the header")
        if len(request.data) > SMALL_CHUNK_BYTES:
            raise TooLarge(
                "the chunk", len(request.data), SMALL_CHUNK_BYTES, holder="PutSmallChunk",
                unit=" bytes",
            )  # fmt: skip
        if len(request.data) != request.header.size:
            raise InvalidArgument(
                f"chunk {request.header.chunk_id}: a PutSmallChunk request carries the whole "
                f"chunk; {request.header.size} bytes were announced and {len(request.data)} sent"
            )
        async with self._put_slots:
            with self.activity.transfer():
                result = await self._put(request, None)
        return _put_answer(result)

    async def _put(
        self, first: storage_pb2.PutChunkRequest, messages: _Messages | None
    ) -> PutResult:
        """Store the chunk `first` announces (`messages`: the rest of its stream, if any)."""
        header = first.header
        ticket = self._admit(
            header.auth,
            "PutChunk",
            ticket_pb2.TICKET_ACTION_PUT,
            header.chunk_id,
            (header.chunk_id, str(header.size)),
        )
        if ticket is not None:
            self.tickets.charge(ticket, header.size)
        try:
            return await self._store(header, first.data, messages)
        except BaseException:
            if ticket is not None:
                self.tickets.refund(ticket, header.size)
            raise

    def _admit(self, proof, method: str, action: int, chunk_id: str | None, fields):
        """The ticket this request runs under (None while tickets are not wired)."""
        if self.tickets is None:
            return None
        return self.tickets.admit(
            proof if proof.ByteSize() else None,
            method=method,
            action=action,
            chunk_id=chunk_id,
            fields=fields,
        )

    def _admit_get(self, request: storage_pb2.GetChunkRequest) -> Ticket | None:
        """GetChunk's and GetSmallChunk's ticket: the holder signs the proof as for GetChunk."""
        return self._admit(
            request.auth,
            "GetChunk",
            ticket_pb2.TICKET_ACTION_GET,
            request.chunk_id,
            (request.chunk_id, str(request.offset), str(request.length)),
        )

    async def _store(
        self, header: storage_pb2.PutChunkHeader, first: bytes, messages: _Messages | None
    ) -> PutResult:
        with _tracer.start_as_current_span("store_chunk") as span:
            span.set_attribute("stratos.chunk_id", header.chunk_id)
            span.set_attribute("stratos.bytes", header.size)
            if len(first) == header.size or messages is None:
                # A small chunk came whole: once the stream has ended, it is opened, written,
                # fsync'd and renamed in one worker-thread step instead of two.
                if messages is not None:
                    await _drain_empty(messages, header)
                result = await asyncio.to_thread(self.store.put, header.chunk_id, first)
            else:
                writer = await asyncio.to_thread(_begin, self.store, header, first)
                try:
                    result = await _stream_into(writer, messages)
                finally:
                    # A client that vanished mid-stream cancels this task; the abort must still
                    # run, synchronously, so no temp file or reservation outlives the call.
                    writer.abort()
            span.set_attribute("stratos.already_present", result.already_present)
            log.debug(  # one line per chunk: thousands a second on a busy node
                "chunk_stored",
                chunk_id=result.chunk_id,
                size=result.size,
                already_present=result.already_present,
            )
        return result

    @rpc_edge
    async def GetChunk(
        self, request: storage_pb2.GetChunkRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        """The chunk's range as GetChunkResponse messages, already in wire form (`get_stream`)."""
        # A repair's own reads must not count as the client transfers that repair yields to.
        repair = is_repair(context.invocation_metadata())
        ticket = self._admit_get(request)
        with contextlib.nullcontext() if repair else self.activity.transfer():
            async with contextlib.aclosing(self._get(request, ticket)) as messages:
                async for msg in messages:
                    yield msg

    @rpc_edge
    async def GetSmallChunk(
        self, request: storage_pb2.GetChunkRequest, context: grpc.aio.ServicerContext
    ) -> bytes:
        """GetChunk's one answer, for a range that fits one message."""
        repair = is_repair(context.invocation_metadata())
        ticket = self._admit_get(request)
        busy = contextlib.nullcontext() if repair else self.activity.transfer()
        with busy, _tracer.start_as_current_span("read_chunk") as span:
            span.set_attribute("stratos.chunk_id", request.chunk_id)
            span.set_attribute("stratos.offset", request.offset)
            reader, first = await get_stream.open_first_async(
                self.store, request.chunk_id, request.offset, request.length
            )
            with reader:
                size = reader.end - reader.offset
                if reader.position < reader.end:
                    raise TooLarge(
                        "the range", size, get_stream.ONE_MESSAGE_BYTES,
                        holder="GetSmallChunk (read it with GetChunk)", unit=" bytes",
                    )  # fmt: skip
                span.set_attribute("stratos.bytes", size)
                if ticket is not None:
                    self.tickets.charge(ticket, size)
                return first

    async def _get(
        self, request: storage_pb2.GetChunkRequest, ticket: Ticket | None
    ) -> AsyncIterator[bytes]:
        with _tracer.start_as_current_span("read_chunk") as span:
            span.set_attribute("stratos.chunk_id", request.chunk_id)
            span.set_attribute("stratos.offset", request.offset)
            reader, first = await get_stream.open_first_async(
                self.store, request.chunk_id, request.offset, request.length
            )
            with reader:
                span.set_attribute("stratos.bytes", reader.end - reader.offset)
                if ticket is not None:  # before the first byte goes out
                    self.tickets.charge(ticket, reader.end - reader.offset)
                async with contextlib.aclosing(get_stream.messages(reader, first)) as messages:
                    async for message in messages:
                        yield message

    @rpc_edge
    async def HasChunks(
        self, request: storage_pb2.HasChunksRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.HasChunksResponse:
        present = await asyncio.to_thread(self.store.has, list(request.chunk_ids))
        return storage_pb2.HasChunksResponse(present=present)

    @rpc_edge
    async def DeleteChunk(
        self, request: storage_pb2.DeleteChunkRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.DeleteChunkResponse:
        self._admit(
            request.auth,
            "DeleteChunk",
            ticket_pb2.TICKET_ACTION_DELETE,
            request.chunk_id,
            (request.chunk_id,),
        )
        deleted = await asyncio.to_thread(self.store.delete, request.chunk_id)
        if deleted:
            log.info("chunk_deleted", chunk_id=request.chunk_id)
        return storage_pb2.DeleteChunkResponse(deleted=deleted)

    @rpc_edge
    async def Stat(
        self, request: storage_pb2.StatRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.StatResponse:
        st = self.store.stat()
        return storage_pb2.StatResponse(
            node_id=st.node_id,
            zone=self.zone,
            capacity_bytes=st.capacity_bytes,
            used_bytes=st.used_bytes,
            chunk_count=st.chunk_count,
        )

    @rpc_edge
    async def ListChunks(
        self, request: storage_pb2.ListChunksRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[storage_pb2.ListChunksResponse]:
        """Every stored chunk after `start_after`, a page per message, walked lazily on disk so
        a node with millions of chunks answers in bounded memory."""
        self._admit(
            request.auth,
            "ListChunks",
            ticket_pb2.TICKET_ACTION_LIST,
            None,
            (request.start_after, str(request.page_size)),
        )
        page_size = _page_size(request.page_size)
        chunks = self.store.list_chunks(request.start_after)
        while True:
            page = await asyncio.to_thread(lambda: list(itertools.islice(chunks, page_size)))
            if not page:
                return
            yield storage_pb2.ListChunksResponse(
                chunks=[
                    storage_pb2.ChunkEntry(
                        chunk_id=c.chunk_id, size=c.size, stored_unix_ms=c.stored_unix_ms
                    )
                    for c in page
                ]
            )
            if len(page) < page_size:
                return

    @rpc_edge
    async def Audit(
        self, request: storage_pb2.AuditRequest, context: grpc.aio.ServicerContext
    ) -> storage_pb2.AuditResponse:
        self._admit(
            request.auth,
            "Audit",
            ticket_pb2.TICKET_ACTION_AUDIT,
            request.chunk_id,
            audit_fields(
                request.chunk_id, request.nonce, [(r.offset, r.length) for r in request.ranges]
            ),
        )
        ranges = [Range(r.offset, r.length) for r in request.ranges]
        with _tracer.start_as_current_span("answer_audit") as span:
            span.set_attribute("stratos.chunk_id", request.chunk_id)
            span.set_attribute("stratos.ranges", len(ranges))
            digest = await asyncio.to_thread(
                answer_audit, self.store, request.chunk_id, request.nonce, ranges
            )
        return storage_pb2.AuditResponse(digest=digest)

    @rpc_edge
    async def SubmitReceipts(
        self, request: receipt_pb2.SubmitReceiptsRequest, context: grpc.aio.ServicerContext
    ) -> receipt_pb2.SubmitReceiptsResponse:
        if self.receipts is None:
            raise Unavailable("this storage node does not take receipts yet")
        return receipt_pb2.SubmitReceiptsResponse(accepted=await self.receipts.submit(request))


def _put_answer(result: PutResult) -> storage_pb2.PutChunkResponse:
    return storage_pb2.PutChunkResponse(
        chunk_id=result.chunk_id, size=result.size, already_present=result.already_present
    )


def _page_size(requested: int) -> int:
    if requested > LIST_PAGE_MAX:
        raise TooLarge(
            "page_size", requested, LIST_PAGE_MAX, holder="one ListChunks message", unit=" chunks"
        )
    return requested or LIST_PAGE_DEFAULT


class _Messages:
    """The request stream, read with an idle limit so a stalled client gives its slot back."""

    def __init__(
        self, requests: AsyncIterator[storage_pb2.PutChunkRequest], idle_timeout_s: float
    ) -> None:
        self._it = aiter(requests)
        self.idle_timeout_s = idle_timeout_s

    async def next(self) -> storage_pb2.PutChunkRequest | None:
        try:
            async with asyncio.timeout(self.idle_timeout_s):  # no task per message, unlike wait_for
                return await anext(self._it, None)
        except TimeoutError:
            raise DeadlineExceeded(
                f"the upload sent nothing for {self.idle_timeout_s:g} s and was dropped"
            ) from None


def _begin(store: ChunkStore, header: storage_pb2.PutChunkHeader, first: bytes) -> ChunkWriter:
    """Open the chunk's write and write the data that came with the header (a small chunk's
    every byte), in one worker-thread step."""
    writer = store.begin(header.chunk_id, header.size)
    if first:
        try:
            writer.write(first)
        except BaseException:
            writer.abort()
            raise
    return writer


async def _drain_empty(messages: _Messages, header: storage_pb2.PutChunkHeader) -> None:
    """Read to the end of a stream whose header already carried every byte: only empty data
    messages may follow."""
    while (msg := await messages.next()) is not None:
        if msg.HasField("header"):
            raise InvalidArgument("only the first PutChunk message may carry a header")
        if msg.data:
            raise InvalidArgument(
                f"chunk {header.chunk_id}: more bytes arrived than the announced {header.size}"
            )


async def _stream_into(writer: ChunkWriter, messages: _Messages) -> PutResult:
    """Feed the data messages to the writer, one piece in flight, then commit."""
    pending: asyncio.Future[None] | None = None
    try:
        while (msg := await messages.next()) is not None:
            if msg.HasField("header"):
                raise InvalidArgument("only the first PutChunk message may carry a header")
            if pending is not None:
                await pending
            pending = asyncio.ensure_future(asyncio.to_thread(writer.write, msg.data))
        if pending is not None:
            await pending
            pending = None
        return await asyncio.to_thread(writer.commit)
    finally:
        if pending is not None and not pending.done():
            # Let the in-flight piece finish before the caller aborts (the writer's lock would
            # make abort wait anyway; this keeps the thread's result from being left unawaited).
            pending.add_done_callback(_consume_result)


def _consume_result(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()


def register(server: grpc.aio.Server, service: StorageService) -> None:
    """The generated handlers, except that GetChunk's and GetSmallChunk's answers go out as the
    wire bytes `get_stream` made (no serializer: gRPC sends the `bytes` as they are)."""
    generated = _Handlers()
    storage_pb2_grpc.add_StorageServiceServicer_to_server(service, generated)
    handlers = dict(generated.handlers)
    handlers["GetChunk"] = grpc.unary_stream_rpc_method_handler(
        service.GetChunk,
        request_deserializer=storage_pb2.GetChunkRequest.FromString,
        response_serializer=None,
    )
    handlers["GetSmallChunk"] = grpc.unary_unary_rpc_method_handler(
        service.GetSmallChunk,
        request_deserializer=storage_pb2.GetChunkRequest.FromString,
        response_serializer=None,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


class _Handlers:
    """Catches the method handlers the generated `add_..._to_server` registers."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict) -> None:
        if service != SERVICE_NAME:
            raise RuntimeError(f"the generated code registered {service}, not {SERVICE_NAME}")
        self.handlers = handlers
