"""The paying side of Proof-of-Traffic: a receipt for every chunk a storage node moved for us.

Once a chunk's transfer is verified — the node's fsync'd ack on a put, the hash check on a get —
the transfer records it here (`record`, cheap and synchronous). Receipts are signed and handed
to the nodes that earned them in batches, one `SubmitReceipts` call per node, a fraction of a
second later (`flush_after_s`) or when the client closes: a burst of small files costs one call
per node, not one per chunk, and nothing on the transfer's own path.

A node that cannot take receipts now (down, its NATS away) gets the same signed receipts again
a little later, up to `MAX_PENDING` per node; past that the oldest are dropped and logged. A
node whose mesh keeps no receipts (no incentive service: FAILED_PRECONDITION) is sent none for
a minute. Losing a receipt costs the node its pay for those bytes, never the user's data, so
errors here are logged, not raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass

import grpc

from stratos.common import receipts
from stratos.common.identity import Identity
from stratos.v1 import receipt_pb2, storage_pb2_grpc, ticket_pb2

# stdlib logging, debug only: the CLI imports no logging library, and a node's pay is not the
# user's business (the storage node logs what it refuses)
log = logging.getLogger(__name__)

MAX_PENDING = 10_000  # receipts waiting for one node
CLOSE_TIMEOUT_S = 3.0  # what closing may spend handing over the last receipts
RETRY_AFTER_S = 2.0  # after a node could not take receipts
MAX_TRIES = 30  # hand-overs of the same receipts to a node that stays away, then they are dropped
DECLINED_FOR_S = 60.0  # a node whose mesh keeps no receipts is not sent any for this long


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
        self._retry: dict[tuple[str, str], deque] = {}  # signed, to hand over again
        self._declined: dict[str, float] = {}  # node → until when it takes no receipts
        self._tries: dict[str, int] = {}  # node → failed hand-overs in a row
        self._serial = itertools.count(secrets.randbits(48))
        self.bytes_receipted = 0  # bytes of every receipt taken: the ozone they will be charged
        self.moved_by_node: dict[str, int] = {}  # verified bytes moved at each node
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
        self.moved_by_node[node_id] = self.moved_by_node.get(node_id, 0) + nbytes
        until = self._declined.get(node_id)
        if until is not None:
            if time.monotonic() < until:
                return
            del self._declined[node_id]
        self.bytes_receipted += nbytes
        queue = self._pending.setdefault((address, node_id), deque())
        if len(queue) >= MAX_PENDING:
            queue.popleft()
            log.debug("receipt dropped for %s: too many pending", node_id)
        queue.append(_Pending(ticket, chunk_id, action, nbytes))
        self._arm()

    def _arm(self) -> None:
        if self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(self._later())

    async def _later(self) -> None:
        """Flush soon after the first record; go on while there is something to send (new
        records, or receipts a node could not take, again every RETRY_AFTER_S)."""
        delay = self.flush_after_s
        while True:
            await asyncio.sleep(delay)
            await self.flush()
            if not self._pending and not self._retry:
                return
            delay = self.flush_after_s if self._pending else RETRY_AFTER_S

    async def flush(self, timeout_s: float | None = None) -> None:
        """Sign and hand over everything pending, one call per node, all at once."""
        work, self._pending = self._pending, {}
        retry, self._retry = self._retry, {}
        calls = [self._send(a, n, list(q), timeout_s) for (a, n), q in work.items()]
        calls += [self._deliver(a, n, list(q), timeout_s) for (a, n), q in retry.items()]
        if calls:
            await asyncio.gather(*calls)

    async def _send(
        self, address: str, node_id: str, pending: list[_Pending], timeout_s: float | None
    ) -> None:
        signed = [(p.ticket, self._sign(p, node_id)) for p in pending]
        await self._deliver(address, node_id, signed, timeout_s)

    def _sign(self, p: _Pending, node_id: str) -> receipt_pb2.SignedReceipt:
        return receipts.sign(
            self.identity,
            p.ticket,
            chunk_id=p.chunk_id,
            node_id=node_id,
            action=p.action,
            nbytes=p.nbytes,
            serial=next(self._serial),
        )

    async def _deliver(
        self,
        address: str,
        node_id: str,
        signed: list[tuple[ticket_pb2.SignedTicket, receipt_pb2.SignedReceipt]],
        timeout_s: float | None,
    ) -> None:
        for start in range(0, len(signed), receipts.MAX_BATCH):
            part = signed[start : start + receipts.MAX_BATCH]
            request = receipt_pb2.SubmitReceiptsRequest()
            seen: set[bytes] = set()
            for ticket, receipt in part:
                if ticket.signature not in seen:
                    seen.add(ticket.signature)
                    request.tickets.append(ticket)
                request.receipts.append(receipt)
            stub = storage_pb2_grpc.StorageServiceStub(self._channels.get(address))
            try:
                resp = await stub.SubmitReceipts(request, timeout=timeout_s or 10.0)
            except grpc.RpcError as err:
                self._failed(address, node_id, signed[start:], err)
                return
            self.sent += resp.accepted
            self._tries.pop(node_id, None)

    def _failed(self, address: str, node_id: str, signed: list, err: grpc.RpcError) -> None:
        code = err.code()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            # the node or its NATS is away: the same signed receipts go again next time
            tries = self._tries.get(node_id, 0) + 1
            if tries > MAX_TRIES:
                self._tries.pop(node_id, None)
                log.debug(
                    "%d receipts for %s dropped after %d tries", len(signed), node_id, tries - 1
                )
                return
            self._tries[node_id] = tries
            queue = self._retry.setdefault((address, node_id), deque())
            queue.extendleft(reversed(signed))
            while len(queue) > MAX_PENDING:
                queue.popleft()
            log.debug("%d receipts for %s deferred: %s", len(signed), node_id, err.details())
            return
        if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNIMPLEMENTED):
            # this mesh keeps no receipts (no incentive service, an older node): stop signing
            # them for this node for a while
            self._declined[node_id] = time.monotonic() + DECLINED_FOR_S
            log.debug("%s takes no receipts: %s", node_id, err.details())
            return
        log.debug("%s refused receipts (%s): %s", node_id, code.name, err.details())

    async def close(self) -> None:
        """Hand over what is pending (once, bounded in time)."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(CLOSE_TIMEOUT_S), CLOSE_TIMEOUT_S + 1)
