"""Erasure-coded manifests on the client side: share records, which nodes to ask for a share,
in which order to read shares, and the layout check a reader runs before trusting a manifest.

An erasure-coded segment keeps its encrypted bytes as k + m shares (stratos.common.erasure),
each a chunk of its own on its own node; `Segment.shares` replaces chunk_id / node_ids. Pure
functions, no I/O; `ec_transfer` does the moving.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from google.protobuf.message import DecodeError

from stratos.common.erasure import MAX_SHARES, share_size
from stratos.common.errors import DataLoss
from stratos.common.hashing import is_chunk_id
from stratos.common.identity import verify
from stratos.common.manifests import manifest_message
from stratos.sdk.crypto import stored_size
from stratos.sdk.manifest import MAX_SEGMENT_SIZE, layout_problem, segment_layout
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
) -> list[str]:
    """Who to ask for a chunk: its current holders when the index lists them, else the nodes
    that acknowledged it at write time; LIVE nodes first, the given order otherwise."""
    nodes = list(dict.fromkeys(locations.get(chunk_id) or written))
    nodes.sort(key=lambda n: n not in live)
    return nodes


def read_order(
    seg: types_pb2.Segment,
    k: int,
    locations: Mapping[str, Sequence[str]],
    live: Collection[str],
) -> list[tuple[types_pb2.Share, list[str]]]:
    """Every share with the nodes to ask for it, best first: shares with a LIVE holder before
    the others, data shares (decoding them is a copy) before parity, then by index."""
    ranked = [(s, holders(s.chunk_id, s.node_ids, locations, live)) for s in seg.shares]
    ranked.sort(key=lambda p: (not any(n in live for n in p[1]), p[0].index >= k, p[0].index))
    return ranked


def verify_any(signed: types_pb2.SignedManifest, file_id: str) -> types_pb2.Manifest:
    """The manifest inside `signed` once its signature, ID and layout check out — replicated
    or erasure coded (the rules mirror `manifest.verify_manifest`, which knows only the first).
    """
    if not verify(signed.owner_public_key, signed.signature, manifest_message(signed.manifest)):
        raise DataLoss(f"the manifest of file {file_id} has an invalid owner signature")
    manifest = types_pb2.Manifest()
    try:
        manifest.ParseFromString(signed.manifest)
    except DecodeError:
        raise DataLoss(f"the manifest of file {file_id} cannot be decoded") from None
    if manifest.file_id != file_id:
        raise DataLoss(
            f"the index returned the manifest of file {manifest.file_id or '?'} "
            f"when asked for {file_id}"
        )
    problem = ec_layout_problem(manifest) if code_of(manifest) else layout_problem(manifest)
    if problem:
        raise DataLoss(f"the manifest of file {file_id} is inconsistent: {problem}")
    return manifest


def ec_layout_problem(manifest: types_pb2.Manifest) -> str | None:
    """Why an erasure-coded manifest cannot rebuild its file, or None when it can."""
    k, m = manifest.erasure.data_shares, manifest.erasure.parity_shares
    if k < 1 or m < 1 or k + m > MAX_SHARES:
        return f"erasure code {k}+{m} is not usable"
    if manifest.cipher != types_pb2.CIPHER_AES_256_GCM:
        return f"unsupported cipher {manifest.cipher}"
    if manifest.size and not 0 < manifest.segment_size <= MAX_SEGMENT_SIZE:
        return f"segment size {manifest.segment_size} is out of range"
    expected = segment_layout(manifest.size, manifest.segment_size or 1)
    if len(manifest.segments) != len(expected):
        return f"{len(manifest.segments)} segments where {len(expected)} are needed"
    for seg, span in zip(manifest.segments, expected, strict=True):
        if seg.index != span.index:
            return f"segment {span.index} is out of order"
        if seg.plain_size != span.length or seg.stored_size != stored_size(span.length):
            return f"segment {span.index} has the wrong size"
        if len(seg.shares) != k + m:
            return f"segment {span.index} has {len(seg.shares)} shares, not {k + m}"
        size = share_size(seg.stored_size, k)
        for i, share in enumerate(seg.shares):
            if share.index != i or share.size != size or not is_chunk_id(share.chunk_id):
                return f"share {i} of segment {span.index} is malformed"
            if not share.node_ids:
                return f"share {i} of segment {span.index} names no nodes"
    return None
