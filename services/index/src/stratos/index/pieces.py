"""What identifies a stored piece, and what each piece is needed for. Pure.

A storage node stores bytes under their chunk ID (BLAKE3 of the bytes), once: a *copy* is a
(node, chunk ID) pair, whatever number of manifests, segments or shares name that chunk. What a
manifest asks of a chunk is a *need*:

- a replicated segment needs its chunk on R distinct nodes;
- a share of an erasure-coded segment needs its chunk on one node that counts for no other
  share of the same segment (a node lost must cost the segment at most one share).

One chunk ID can be named by several needs: the k+m shares of a 1+m segment all carry the same
bytes, so the same ID; a manifest may repeat a chunk; two files may share one. So the rules
that act on copies decide per chunk ID over *every* need that names it — a copy is deleted only
when no need counts it — and a change to a chunk's copies is recorded for every file that names
the chunk. Everything here keys by chunk ID and merges, never overwrites, what several needs say.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from stratos.v1 import types_pb2


@dataclass(frozen=True)
class Piece:
    """One chunk a manifest names, where it names it."""

    segment: int
    share: int  # the share index, or -1 for a replicated segment's chunk
    chunk_id: str
    size: int  # stored bytes of the chunk
    node_ids: tuple[str, ...]  # the nodes the signed manifest lists for this piece


def pieces(manifest: types_pb2.Manifest) -> Iterator[Piece]:
    """Every piece of a manifest in order: segments' chunks, or their shares when coded."""
    for seg in manifest.segments:
        if seg.chunk_id:
            yield Piece(seg.index, -1, seg.chunk_id, seg.stored_size, tuple(seg.node_ids))
        for share in seg.shares:
            yield Piece(seg.index, share.index, share.chunk_id, share.size, tuple(share.node_ids))


def chunk_sizes(manifest: types_pb2.Manifest) -> dict[str, int]:
    """Chunk ID → stored bytes, each chunk once."""
    return {p.chunk_id: p.size for p in pieces(manifest)}


def manifest_holders(manifest: types_pb2.Manifest) -> dict[str, list[str]]:
    """Chunk ID → the nodes the signed manifest names for it: the union over every piece with
    that ID (a 1+2 segment names the same chunk on three nodes, one per share), in order."""
    out: dict[str, dict[str, None]] = {}
    for p in pieces(manifest):
        out.setdefault(p.chunk_id, {}).update(dict.fromkeys(p.node_ids))
    return {cid: list(nodes) for cid, nodes in out.items()}


def holders(
    manifest: types_pb2.Manifest, locations: types_pb2.FileLocations | None
) -> dict[str, list[str]]:
    """Chunk ID → its current holders: the locations entry where there is one (it records every
    move since the upload), else the manifest's list."""
    out = manifest_holders(manifest)
    if locations is not None:
        for loc in locations.chunks:
            if loc.chunk_id in out:
                out[loc.chunk_id] = list(dict.fromkeys(loc.node_ids))
    return out


def naming(manifests: Iterable[types_pb2.Manifest], chunk_id: str) -> list[types_pb2.Manifest]:
    """The manifests among `manifests` that name `chunk_id` (each once)."""
    return [m for m in manifests if any(p.chunk_id == chunk_id for p in pieces(m))]


def union_holders(views: Iterable[tuple[types_pb2.Manifest, types_pb2.FileLocations | None]]):
    """Chunk ID → every node any file records as holding it (each file's current holders,
    merged): a copy is a node's, not a file's."""
    out: dict[str, dict[str, None]] = {}
    for manifest, locations in views:
        for cid, nodes in holders(manifest, locations).items():
            out.setdefault(cid, {}).update(dict.fromkeys(nodes))
    return {cid: list(nodes) for cid, nodes in out.items()}


def assign_shares(candidates: Sequence[tuple[int, Sequence[str]]]) -> dict[int, str]:
    """Share index → the node it counts on, for the shares of one coded segment.

    `candidates` are (share index, nodes that hold its chunk, best first). Each node counts for
    at most one share, and as many shares as possible count: a maximum bipartite matching by
    augmenting paths (Kuhn), so a node holding two shares' chunks never leaves one of them
    uncounted when another holder could take it. Earlier shares and better nodes win ties, so
    every index replica assigns alike."""
    owner_of: dict[str, int] = {}
    options = dict(candidates)

    def augment(share: int, seen: set[str]) -> bool:
        for node in options[share]:
            if node in seen:
                continue
            seen.add(node)
            if node not in owner_of or augment(owner_of[node], seen):
                owner_of[node] = share
                return True
        return False

    for share, _ in candidates:
        augment(share, set())
    return {share: node for node, share in owner_of.items()}
