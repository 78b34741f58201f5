"""The index's side of tickets: what it signs, for whom, and for which chunks.

The index authenticates a caller by its signed `TicketAsk` and then issues tickets for exactly
the chunks the call is about, on exactly the storage nodes that call involves:

- PlaceChunks (a write): PUT tickets for the chunks asked about, on the nodes placed (targets
  and fallbacks), held and paid for by the writer's key — the key that then signs the manifest.
- GetManifest (a read): GET tickets for the file's chunks, on their current holders, held and
  paid for by the reader's key. The index cannot check that the reader holds the file key (it
  never sees it), so a read ticket proves only that its holder named the file and signed the
  ask: it hands out ciphertext of that one file, which is useless without the key, and makes
  every read charged to a payer (issue 13) instead of free to anyone who can reach a node.
- Repair jobs: a GET ticket for the job's source chunks, held by the target node's key.
- The index's own calls (audits, garbage collection): a ticket it issues to itself for one
  storage node, any chunk, kept while it is fresh (`own`).

Tickets list at most `tickets.MAX_CHUNKS` chunks and `tickets.MAX_NODES` nodes: a call about
more gets several (`group`). Each ticket's byte budget per node is twice the bytes it covers, so
one retry of each transfer fits and a disk cannot be filled past what was asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from stratos.common import tickets
from stratos.common.identity import Identity, address_of
from stratos.common.tickets import Bearer
from stratos.v1 import repair_pb2, ticket_pb2

PUT, GET = ticket_pb2.TICKET_ACTION_PUT, ticket_pb2.TICKET_ACTION_GET
OWN_ACTIONS = (
    ticket_pb2.TICKET_ACTION_GET,
    ticket_pb2.TICKET_ACTION_DELETE,
    ticket_pb2.TICKET_ACTION_LIST,
    ticket_pb2.TICKET_ACTION_AUDIT,
)
CLIENT_TTL_MS = 10 * 60 * 1000  # a write asks per segment; a long read asks again (the SDK does)
REPAIR_TTL_MS = 60 * 60 * 1000  # a job may wait in its node's queue (redelivered, backed off)
OWN_TTL_MS = 10 * 60 * 1000
OWN_BUDGET = 1 << 50  # the index's own reads are audits: bounded by the audit rate, not here
RETRY_FACTOR = 2


@dataclass(frozen=True)
class Group:
    chunk_ids: tuple[str, ...]
    node_ids: frozenset[str]
    nbytes: int


def group(chunks: Iterable[tuple[str, int, Iterable[str]]]) -> list[Group]:
    """(chunk ID, size, nodes) cut into groups one ticket each can carry, in order."""
    out: list[Group] = []
    ids: list[str] = []
    nodes: set[str] = set()
    nbytes = 0
    for cid, size, where in chunks:
        where = set(where)
        if ids and (len(ids) >= tickets.MAX_CHUNKS or len(nodes | where) > tickets.MAX_NODES):
            out.append(Group(tuple(ids), frozenset(nodes), nbytes))
            ids, nodes, nbytes = [], set(), 0
        ids.append(cid)
        nodes |= set(sorted(where)[: tickets.MAX_NODES])
        nbytes += size
    if ids:
        out.append(Group(tuple(ids), frozenset(nodes), nbytes))
    return [g for g in out if g.node_ids]


class TicketSigner:
    """Signs tickets as the meta node `node_id` with `identity` (its admitted key)."""

    def __init__(
        self, identity: Identity, node_id: str, *, clock_ms: Callable[[], int] = tickets.now_ms
    ) -> None:
        self.identity, self.node_id, self._clock = identity, node_id, clock_ms
        self._own: dict[str, tuple[Bearer, int]] = {}  # storage node → its ticket, renew after

    def _issue(
        self, g: Group, *, holder: bytes, action: int, ttl_ms: int, payer: str, file_id: str
    ):
        return tickets.issue(
            self.identity,
            self.node_id,
            holder_public_key=holder,
            actions=[action],
            chunk_ids=g.chunk_ids,
            node_ids=g.node_ids,
            byte_budget=g.nbytes * RETRY_FACTOR,
            ttl_ms=ttl_ms,
            payer=payer,
            file_id=file_id,
            now=self._clock(),
        )

    def for_write(
        self,
        holder: bytes,
        sizes: Mapping[str, int],
        placed: Sequence[tuple[str, Sequence[str]]],
    ) -> list[ticket_pb2.SignedTicket]:
        """PUT tickets for the placed chunks on the nodes they were placed on."""
        groups = group((cid, sizes.get(cid, 0), nodes) for cid, nodes in placed)
        return [
            self._issue(
                g,
                holder=holder,
                action=PUT,
                ttl_ms=CLIENT_TTL_MS,
                payer=address_of(holder),
                file_id="",
            )
            for g in groups
        ]

    def for_read(
        self,
        holder: bytes,
        file_id: str,
        chunks: Iterable[tuple[str, int, Iterable[str]]],
        *,
        payer: str | None = None,
    ) -> list[ticket_pb2.SignedTicket]:
        """GET tickets for a file's chunks (ID, size, holders), paid by `payer` (default: the
        holder's own address; a compute job's payer for its executors)."""
        return [
            self._issue(
                g,
                holder=holder,
                action=GET,
                ttl_ms=CLIENT_TTL_MS,
                payer=payer or address_of(holder),
                file_id=file_id,
            )
            for g in group(chunks)
        ]

    def for_repair(
        self, job: repair_pb2.RepairJob, holder: bytes
    ) -> ticket_pb2.SignedTicket | None:
        """A GET ticket for what `job` fetches, held by its target node; None for a job that
        fetches nothing (DELETE)."""
        if job.kind == repair_pb2.REPAIR_KIND_COPY:
            wanted = [(job.chunk_id, job.size, [s.node_id for s in job.sources])]
        elif job.kind == repair_pb2.REPAIR_KIND_REENCODE:
            wanted = [(s.chunk_id, job.size, [h.node_id for h in s.holders]) for s in job.shares]
        else:
            return None
        groups = group(wanted)
        if len(groups) != 1:  # a job fetches a segment's shares: always within one ticket
            return None
        return self._issue(
            groups[0],
            holder=holder,
            action=GET,
            ttl_ms=REPAIR_TTL_MS,
            payer="",
            file_id=job.file_id,
        )

    def own(self, storage_node_id: str) -> Bearer:
        """This meta node's own ticket for its calls to `storage_node_id` (any chunk), reused
        until half its life is gone."""
        now = self._clock()
        held = self._own.get(storage_node_id)
        if held is not None and held[1] > now:
            return held[0]
        signed = tickets.issue(
            self.identity,
            self.node_id,
            holder_public_key=self.identity.public_bytes,
            actions=OWN_ACTIONS,
            node_ids=[storage_node_id],
            byte_budget=OWN_BUDGET,
            ttl_ms=OWN_TTL_MS,
            now=now,
        )
        bearer = Bearer(self.identity, signed)
        if len(self._own) > 10_000:  # nodes come and go; never grow without bound
            self._own.clear()
        self._own[storage_node_id] = (bearer, now + OWN_TTL_MS // 2)
        return bearer
