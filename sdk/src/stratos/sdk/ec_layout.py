"""Erasure-coded manifests on the client side: share records, which nodes to ask for a share,
in which order to read shares, and the layout check a reader runs before trusting a manifest.

An erasure-coded segment keeps its encrypted bytes as k + m shares (stratos.common.erasure),
each a chunk of its own on its own node; `Segment.shares` replaces chunk_id / node_ids. Pure
functions, no I/O; `ec_transfer` does the moving.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from stratos.sdk.crypto import stored_size
from stratos.v1 import index_pb2, types_pb2


def code_of(manifest: types_pb2.Manifest | types_pb2.FileSummary) -> tuple[int, int] | None:
    """(k, m) when the file is erasure coded, else None."""
    if not manifest.HasField("erasure"):
        return None
    return manifest.erasure.data_shares, manifest.erasure.parity_shares


def coded_size(size: int, k: int, m: int) -> int:
    """Roughly the bytes k + m shares of `size` bytes occupy, for the index's room check."""
    return -(-size * (k + m) // k)


def ec_segment(
    index: int, plain_size: int, chunk_ids: Sequence[str], nodes: Sequence[str], size: int
) -> types_pb2.Segment:
    """The record of one erasure-coded segment: share i is `chunk_ids[i]` on `nodes[i]`."""
    return types_pb2.Segment(
        index=index,
        plain_size=plain_size,
        stored_size=stored_size(plain_size),
        shares=[
            types_pb2.Share(index=i, chunk_id=c, size=size, node_ids=[n])
            for i, (c, n) in enumerate(zip(chunk_ids, nodes, strict=True))
        ],
    )


def current_locations(resp: index_pb2.GetManifestResponse) -> dict[str, list[str]]:
    """chunk_id → the nodes holding it now, for the chunks the index moved since the write."""
    return {c.chunk_id: list(c.node_ids) for c in resp.locations.chunks if c.node_ids}


def holders(
    chunk_id: str,
    written: Sequence[str],
    locations: Mapping[str, Sequence[str]],
    live: Collection[str],
    prefer: str | None = None,
) -> list[str]:
    """Who to ask for a chunk: its current holders when the index lists them, else the nodes
    that acknowledged it at write time; LIVE nodes first (`prefer` first of them: a compute
    worker's own node), the given order otherwise."""
    nodes = list(dict.fromkeys(locations.get(chunk_id) or written))
    nodes.sort(key=lambda n: (n not in live, n != prefer))
    return nodes


def read_order(
    seg: types_pb2.Segment,
    k: int,
    locations: Mapping[str, Sequence[str]],
    live: Collection[str],
    prefer: str | None = None,
) -> list[tuple[types_pb2.Share, list[str]]]:
    """Every share with the nodes to ask for it, best first: shares with a LIVE holder before
    the others, then those `prefer` holds (a compute worker's own node), data shares (decoding
    them is a copy) before parity, then by index."""
    ranked = [(s, holders(s.chunk_id, s.node_ids, locations, live, prefer)) for s in seg.shares]
    ranked.sort(
        key=lambda p: (
            not any(n in live for n in p[1]),
            prefer is None or prefer not in p[1],
            p[0].index >= k,
            p[0].index,
        )
    )
    return ranked
