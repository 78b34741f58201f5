"""Where a file's pieces are now and what state each holder is in: what `stratos stat` shows.

The signed manifest names the nodes that acknowledged each chunk at upload. Repair, drains and
rebalancing move chunks later, which the owner's signature cannot cover, so the index keeps the
current holders beside the manifest (STRATOS_LOCATIONS, returned by GetManifest; a chunk it does
not list is where the manifest says). Showing the manifest's list showed a plan made at upload:
a drained node still "holding" chunks, a lost node and not the copy that replaced it.

A holder's state comes from the index's registry and drains: LIVE, SUSPECT or LOST by its
heartbeats, DRAINING when it is live and being emptied, UNKNOWN when the index has no record of
it. The index keeps a copy on a lost node on record in case the node comes back, but that copy
no longer counts; it is shown while it explains why a piece is short, and not once the piece
has its copies elsewhere again (counted as the repair planner counts them: on live or suspect
nodes, not draining ones).

Pure: the manifest, its locations and the index's node statuses in, views out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stratos.v1 import types_pb2

LIVE, SUSPECT, LOST, DRAINING, UNKNOWN = "LIVE", "SUSPECT", "LOST", "DRAINING", "UNKNOWN"
_BY_HEARTBEAT = {
    types_pb2.NODE_STATE_LIVE: LIVE,
    types_pb2.NODE_STATE_SUSPECT: SUSPECT,
    types_pb2.NODE_STATE_LOST: LOST,
}
# Holders whose copy the mesh no longer counts on.
WRITTEN_OFF = frozenset({LOST, UNKNOWN})
# Holders whose copy counts toward the redundancy target, as the repair planner counts them
# (a draining node's copy is on its way out).
COUNTED = frozenset({LIVE, SUSPECT})
# Holders a reader may still get the bytes from.
REACHABLE = frozenset({LIVE, SUSPECT, DRAINING})


@dataclass(frozen=True)
class Holder:
    node_id: str
    state: str  # LIVE, SUSPECT, LOST, DRAINING or UNKNOWN


@dataclass(frozen=True)
class Piece:
    """A replicated segment's chunk, or one share of a coded segment, and who holds it now."""

    chunk_id: str
    size: int  # stored bytes
    share: int | None  # the share's index; None for a replicated segment
    holders: tuple[Holder, ...]


@dataclass(frozen=True)
class SegmentView:
    index: int
    plain_size: int
    stored_size: int
    pieces: tuple[Piece, ...]  # one for a replicated segment, k + m for a coded one
    live: int  # copies (replicated) or shares (coded) on LIVE nodes
    target: int  # R copies, or k + m shares
    reachable: int  # copies or shares some reachable node holds
    needed: int  # to read the segment: 1 copy, or k shares

    @property
    def coded(self) -> bool:
        return any(p.share is not None for p in self.pieces)

    @property
    def chunk_id(self) -> str:
        """The replicated segment's chunk; empty for a coded one (each share is its own)."""
        return "" if self.coded or not self.pieces else self.pieces[0].chunk_id


def node_state(node_id: str, statuses: Mapping[str, types_pb2.NodeStatus]) -> str:
    """A holder's state as the index sees it; a lost node being drained is LOST, since its
    copies count for nothing either way."""
    status = statuses.get(node_id)
    if status is None:
        return UNKNOWN
    state = _BY_HEARTBEAT.get(status.state, UNKNOWN)
    return DRAINING if state == LIVE and status.draining else state


def moved(locations: types_pb2.FileLocations | None) -> dict[str, list[str]]:
    """Chunk ID → the nodes holding it now, for the chunks the index lists (an empty list
    included: then nobody does). Any other chunk is where the manifest says — each piece on
    its own nodes, since two pieces may share a chunk ID (identical bytes)."""
    if locations is None:
        return {}
    return {loc.chunk_id: list(loc.node_ids) for loc in locations.chunks}


def shown(holders: Sequence[Holder], target: int) -> tuple[Holder, ...]:
    """The holders worth showing for a piece that wants `target` copies: all of them, except
    written-off copies (lost or unknown nodes) once `target` copies that count are there."""
    if sum(1 for h in holders if h.state in COUNTED) >= target:
        return tuple(h for h in holders if h.state not in WRITTEN_OFF)
    return tuple(holders)


def _piece(
    chunk_id: str,
    size: int,
    share: int | None,
    written: Sequence[str],
    target: int,
    where: Mapping[str, Sequence[str]],
    statuses: Mapping[str, types_pb2.NodeStatus],
) -> Piece:
    nodes = dict.fromkeys(where.get(chunk_id, written))  # a node listed twice holds one copy
    holders = [Holder(n, node_state(n, statuses)) for n in nodes]
    return Piece(chunk_id, size, share, shown(holders, target))


def segment_views(
    manifest: types_pb2.Manifest,
    locations: types_pb2.FileLocations | None,
    statuses: Mapping[str, types_pb2.NodeStatus],
) -> list[SegmentView]:
    """Every segment of the file with its pieces' current holders and how many are live."""
    where = moved(locations)
    views = []
    for seg in manifest.segments:
        if seg.shares:
            k = manifest.erasure.data_shares
            pieces = tuple(
                _piece(s.chunk_id, s.size, s.index, s.node_ids, 1, where, statuses)
                for s in seg.shares
            )
            live = sum(1 for p in pieces if any(h.state == LIVE for h in p.holders))
            reachable = sum(1 for p in pieces if any(h.state in REACHABLE for h in p.holders))
            target, needed = len(seg.shares), max(1, k)
        else:
            target = max(1, manifest.replicas)
            piece = _piece(
                seg.chunk_id, seg.stored_size, None, seg.node_ids, target, where, statuses
            )
            pieces = (piece,)
            live = sum(1 for h in piece.holders if h.state == LIVE)
            reachable = sum(1 for h in piece.holders if h.state in REACHABLE)
            needed = 1
        views.append(
            SegmentView(
                seg.index, seg.plain_size, seg.stored_size, pieces, live, target, reachable, needed
            )
        )
    return views
