"""The paying side of Proof-of-Traffic: a receipt for every chunk a storage node moved for us.

Once a chunk's transfer is verified — the node's fsync'd ack on a put, the hash check on a get —
the transfer records it here (`record`, cheap and synchronous). Receipts are signed and handed
to the nodes that earned them in batches, one `SubmitReceipts` call per node, a fraction of a
second later (`flush_after_s`) or when the client closes: a burst of small files costs one call
per node, not one per chunk, and nothing on the transfer's own path.

A node that cannot take receipts now (down, or no incentive service yet) keeps its pending
ones for the next flush, up to `MAX_PENDING` per node; past that the oldest are dropped and
logged. Losing a receipt costs the node its pay for those bytes, never the user's data, so
errors here are logged, not raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections import deque
from dataclasses import dataclass

import grpc

from stratos.common import receipts
from stratos.common.identity import Identity
from stratos.common.logging import get_logger
from stratos.v1 import receipt_pb2, storage_pb2_grpc, ticket_pb2

log = get_logger(__name__)

MAX_PENDING = 10_000  # receipts waiting for one node
CLOSE_TIMEOUT_S = 3.0  # what closing may spend handing over the last receipts


@dataclass(frozen=True)
class _Pending:
    ticket: ticket_pb2.SignedTicket
    chunk_id: str
    action: int
    nbytes: int


class ReceiptSender:
    def __init__(self, identity: Identity, channels, *, flush_after_s: float = 0.2) -> None:
        self.identity = identity
        self._channels = channels  # transfer.Channels: a channel per address
        self.flush_after_s = flush_after_s
        self._pending: dict[tuple[str, str], deque[_Pending]] = {}  # (address, node) → receipts
        self._serial = itertools.count(secrets.randbits(48))
        self._timer: asyncio.Task | None = None
        self.sent = 0  # receipts nodes accepted (for tests and diagnostics)

    def record(
        self,
        ticket: ticket_pb2.SignedTicket,
        address: str,
        node_id: str,
        chunk_id: str,
        action: int,
        nbytes: int,
    ) -> None:
        """A verified transfer of `nbytes` of `chunk_id` at `node_id`; signed and sent soon."""
        if not node_id or nbytes <= 0:
            return
        queue = self._pending.setdefault((address, node_id), deque())
        if len(queue) >= MAX_PENDING:
            queue.popleft()
            log.warning("receipt_dropped", node=node_id, reason="too many pending receipts")
        queue.append(_Pending(ticket, chunk_id, action, nbytes))
        if self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(self._later())

    async def _later(self) -> None:
        await asyncio.sleep(self.flush_after_s)
        await self.flush()

    async def flush(self, timeout_s: float | None = None) -> None:
        """Sign and hand over everything pending, one call per node, all at once."""
        work, self._pending = self._pending, {}
        if work:
            await asyncio.gather(
                *(self._send(addr, node, list(q), timeout_s) for (addr, node), q in work.items())
            )

    async def _send(
        self, address: str, node_id: str, pending: list[_Pending], timeout_s: float | None
    ) -> None:
        for start in range(0, len(pending), receipts.MAX_BATCH):
            part = pending[start : start + receipts.MAX_BATCH]
            request = receipt_pb2.SubmitReceiptsRequest()
            seen: dict[bytes, None] = {}
            for p in part:
                if p.ticket.signature not in seen:
                    seen[p.ticket.signature] = None
                    request.tickets.append(p.ticket)
                request.receipts.append(
                    receipts.sign(
                        self.identity,
                        p.ticket,
                        chunk_id=p.chunk_id,
                        node_id=node_id,
                        action=p.action,
                        nbytes=p.nbytes,
                        serial=next(self._serial),
                    )
                )
            stub = storage_pb2_grpc.StorageServiceStub(self._channels.get(address))
            try:
                resp = await stub.SubmitReceipts(request, timeout=timeout_s or 10.0)
            except grpc.RpcError as err:
                code = err.code()
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    self._keep(address, node_id, pending[start:])
                log.warning("receipts_not_taken", node=node_id, code=code.name, error=err.details())
                return
            self.sent += resp.accepted

    def _keep(self, address: str, node_id: str, pending: list[_Pending]) -> None:
        queue = self._pending.setdefault((address, node_id), deque())
        queue.extendleft(reversed(pending))
        while len(queue) > MAX_PENDING:
            queue.popleft()

    async def close(self) -> None:
        """Hand over what is pending (once, bounded in time)."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(CLOSE_TIMEOUT_S), CLOSE_TIMEOUT_S + 1)
