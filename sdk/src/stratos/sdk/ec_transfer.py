"""Moving erasure-coded segments: store a segment's k + m shares on k + m distinct nodes, and
read any k of them back.

Placement reuses the index's ranking: the first share's chunk is placed with replicas = k + m,
which yields k + m distinct nodes spread over zones (then fallbacks), and share i goes to the
i-th. A node that fails is replaced by a fallback, then by fresh targets from the index with
every failed node and every node already holding a share of the segment excluded, so no node
ever holds two shares of one segment. A read asks for k shares at once (data shares on LIVE
nodes first) and starts another share whenever one fails, so a segment costs k share transfers
when nothing is wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from stratos.common import erasure
from stratos.common.errors import (
    DataLoss,
    FailedPrecondition,
    InvalidArgument,
    ResourceExhausted,
    StratosError,
    Unavailable,
)
from stratos.common.hashing import chunk_id as hash_chunk
from stratos.sdk import transfer
from stratos.sdk.ec_layout import coded_size, ec_segment, read_order
from stratos.sdk.manifest import SegmentSpan
from stratos.sdk.ticketbook import TicketBook
from stratos.v1 import index_pb2, types_pb2

MAX_REPLACEMENTS = 2  # times one segment may ask the index for fresh targets

# (the shares' chunk IDs, share size, how many targets, nodes to exclude) → the first share's
# targets then fallbacks, and PUT tickets for every share
Place = Callable[
    [Sequence[str], int, int, Iterable[str]],
    Awaitable[tuple[list[index_pb2.NodeAddress], TicketBook]],
]


async def plan_ec(
    index: transfer.IndexClient, size: int, k: int, m: int
) -> index_pb2.PlanWriteResponse:
    """Refuse, before any byte is sent, a k+m write the live nodes cannot hold."""
    # One copy of the coded bytes lets the index check room; the node count is checked here,
    # since every share of a segment needs a node of its own.
    try:
        plan = await index.call(
            "PlanWrite", index_pb2.PlanWriteRequest(replicas=1, size=coded_size(size, k, m))
        )
    except FailedPrecondition as err:
        raise FailedPrecondition(f"erasure code {k}+{m} cannot be stored: {err}") from None
    if plan.live_nodes < k + m:
        raise FailedPrecondition(
            f"erasure code {k}+{m} needs {k + m} live storage nodes (one per share) "
            f"but only {plan.live_nodes} are live"
        )
    return plan


@dataclass
class EcUpload:
    """One erasure-coded put's segment workers and what they share."""

    channels: transfer.Channels
    place: Place
    read: Callable[[SegmentSpan], tuple[str, bytes]]  # span → (chunk ID, encrypted bytes)
    k: int
    m: int
    on_progress: Callable[[int], None] | None = None
    failed: dict[str, str] = field(default_factory=dict)  # node_id → why; excluded afterwards
    records: list[types_pb2.Segment] = field(default_factory=list)

    async def segment(self, span: SegmentSpan) -> None:
        # Off the event loop, so coding one segment overlaps with sending the others.
        ids, shares = await asyncio.to_thread(self._encode, span)
        nodes = await self._store(span.index, ids, shares)
        self.records.append(ec_segment(span.index, span.length, ids, nodes, len(shares[0])))
        if self.on_progress:
            self.on_progress(span.length)

    def _encode(self, span: SegmentSpan) -> tuple[list[str], list[bytes]]:
        _, stored = self.read(span)
        shares = erasure.encode(stored, self.k, self.m)
        del stored
        return [hash_chunk(s) for s in shares], shares

    async def _store(self, index: int, ids: list[str], shares: list[bytes]) -> list[str]:
        """Each share on its own node; the node ID of every share, in share order."""
        n = len(shares)
        placed: dict[int, str] = {}  # share index → node that acknowledged it
        errors: list[tuple[str, StratosError]] = []
        for attempt in range(MAX_REPLACEMENTS + 1):
            missing = [i for i in range(n) if i not in placed]
            taken = set(placed.values())
            try:
                targets, book = await self.place(
                    ids, len(shares[0]), len(missing), [*self.failed, *taken]
                )
            except StratosError as err:
                if (attempt == 0 and not self.failed) or isinstance(err, InvalidArgument):
                    # the index refused outright: its sentence says why
                    raise type(err)(
                        f"the {n} shares of erasure code {self.k}+{self.m} cannot be placed: "
                        f"{err.message}"
                    ) from None
                errors.append(("", err))
                break
            spare = [t for t in targets if t.node_id not in self.failed and t.node_id not in taken]
            spare = list({t.node_id: t for t in spare}.values())
            while missing and spare:
                batch = dict(zip(missing, spare, strict=False))
                spare = spare[len(batch) :]
                results = await asyncio.gather(
                    *(
                        transfer.put_chunk(
                            self.channels,
                            t.address,
                            ids[i],
                            shares[i],
                            node_id=t.node_id,
                            bearer=book.now(ids[i]),
                        )
                        for i, t in batch.items()
                    ),
                    return_exceptions=True,
                )
                for (i, t), result in zip(batch.items(), results, strict=True):
                    if isinstance(result, StratosError):
                        self.failed[t.node_id] = result.message
                        errors.append((t.node_id, result))
                    elif isinstance(result, BaseException):
                        raise result
                    else:
                        placed[i] = t.node_id
                missing = [i for i in range(n) if i not in placed]
            if not missing:
                return [placed[i] for i in range(n)]
        raise _short_of_shares(index, len(placed), n, errors)


def _short_of_shares(
    index: int, stored: int, want: int, errors: list[tuple[str, StratosError]]
) -> StratosError:
    sentence = f"could only store {stored} of the {want} shares of segment {index}"
    node_errors = [(n, e) for n, e in errors if n]
    if node_errors:
        sentence += f": {node_errors[-1][0]}: {node_errors[-1][1].message}"
    elif errors:
        sentence += f": {errors[-1][1].message}"
    full = node_errors and all(isinstance(e, ResourceExhausted) for _, e in node_errors)
    return (ResourceExhausted if full else Unavailable)(sentence)


async def read_shares(
    channels: transfer.Channels,
    file_id: str,
    seg: types_pb2.Segment,
    k: int,
    addresses: Mapping[str, str],
    live: Collection[str],
    locations: Mapping[str, list[str]],
    book: TicketBook | None = None,
    prefer: str | None = None,
) -> dict[int, bytearray]:
    """Any k verified shares of `seg` (share index → bytes), k transfers in flight at most;
    shares on `prefer` (a compute worker's own node) first."""
    queue = read_order(seg, k, locations, live, prefer)
    got: dict[int, bytearray] = {}
    failures: list[str] = []

    async def one(share: types_pb2.Share, nodes: list[str]) -> tuple[int, bytearray | None]:
        for node in nodes:
            address = addresses.get(node)
            if not address:
                failures.append(f"share {share.index} on {node}: no known address")
                continue
            try:
                data = await transfer.get_chunk(
                    channels,
                    address,
                    share.chunk_id,
                    share.size,
                    node_id=node,
                    bearer=await book.bearer(share.chunk_id) if book else None,
                )
            except StratosError as err:
                failures.append(f"share {share.index} on {node}: {err.message}")
                continue
            return share.index, data
        return share.index, None

    running: set[asyncio.Task] = set()
    try:
        while len(got) < k:
            while queue and len(running) < k - len(got):
                running.add(asyncio.create_task(one(*queue.pop(0))))
            if not running:
                break
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                index, data = task.result()
                if data is not None:
                    got[index] = data
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    if len(got) < k:
        raise DataLoss(
            f"segment {seg.index} of file {file_id} could be read from only {len(got)} of the "
            f"{k} shares it needs: " + "; ".join(failures[-4:])
        )
    return got
