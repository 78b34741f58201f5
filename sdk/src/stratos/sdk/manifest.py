"""Manifests: build, sign and verify the file → segments → chunks → nodes record.

The index stores what the owner signed, byte for byte; a reader checks the owner's signature,
that the manifest is the one it asked for, and that its segment layout adds up before trusting
any of it. The delete request is signed here too, with its own domain prefix so a signature for
one purpose can never be replayed for another. Pure functions, no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from stratos.common.erasure import MAX_SHARES, share_size
from stratos.common.errors import DataLoss, InvalidArgument, PermissionDenied
from stratos.common.hashing import is_chunk_id
from stratos.common.identity import Identity, verify
from stratos.common.limits import MAX_SEGMENT_BYTES
from stratos.common.manifests import delete_message, file_summary, manifest_message
from stratos.common.shown import shown
from stratos.sdk.crypto import stored_size
from stratos.sdk.file_names import sealed_name
from stratos.v1 import index_pb2, types_pb2

MAX_SEGMENT_SIZE = MAX_SEGMENT_BYTES  # why: stratos.common.limits


@dataclass(frozen=True)
class SegmentSpan:
    """Where one segment sits in the plaintext file."""

    index: int
    offset: int
    length: int


def segment_layout(size: int, segment_size: int) -> list[SegmentSpan]:
    """The segments of a `size`-byte file; an empty file has none. Only arithmetic: what a
    writer may choose is `segment_limits.check_segment_size` (a reader accepts any size up to
    the largest, so files stored with smaller segments stay readable)."""
    if segment_size <= 0 or segment_size > MAX_SEGMENT_SIZE:
        raise InvalidArgument(
            f"the segment size must be between 1 and {MAX_SEGMENT_SIZE} bytes, not {segment_size}"
        )
    return [
        SegmentSpan(i, off, min(segment_size, size - off))
        for i, off in enumerate(range(0, size, segment_size))
    ]


def segment_record(
    index: int, chunk_id: str, plain_size: int, node_ids: Sequence[str]
) -> types_pb2.Segment:
    return types_pb2.Segment(
        index=index,
        chunk_id=chunk_id,
        plain_size=plain_size,
        stored_size=stored_size(plain_size),
        node_ids=list(node_ids),
    )


def build_manifest(
    *,
    file_id: str,
    name: str,
    key: bytes,
    size: int,
    segment_size: int,
    replicas: int,
    segments: Sequence[types_pb2.Segment],
    created_unix_ms: int | None = None,
    expires_unix_ms: int = 0,
) -> types_pb2.Manifest:
    """A manifest with its segments in file order and its name sealed with the file `key`
    (the index, NATS and storage nodes never see it in plaintext)."""
    return types_pb2.Manifest(
        file_id=file_id,
        metadata=sealed_name(key, file_id, name),
        size=size,
        segment_size=segment_size,
        replicas=replicas,
        cipher=types_pb2.CIPHER_AES_256_GCM,
        created_unix_ms=created_unix_ms if created_unix_ms is not None else now_ms(),
        segments=sorted(segments, key=lambda s: s.index),
        expires_unix_ms=expires_unix_ms,
    )


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def sign_manifest(manifest: types_pb2.Manifest, identity: Identity) -> types_pb2.SignedManifest:
    """ed25519 over manifest_message(the serialized manifest), which is stored as signed."""
    data = manifest.SerializeToString(deterministic=True)
    return types_pb2.SignedManifest(
        manifest=data,
        owner_public_key=identity.public_bytes,
        signature=identity.sign(manifest_message(data)),
    )


def verify_manifest(
    signed: types_pb2.SignedManifest,
    file_id: str,
    *,
    expected_owner: bytes | None = None,
) -> types_pb2.Manifest:
    """The manifest inside `signed`, once its signature, ID and layout check out.

    DataLoss when the record is damaged or is not the one asked for; PermissionDenied when it is
    intact but signed by someone other than `expected_owner`."""
    if not verify(signed.owner_public_key, signed.signature, manifest_message(signed.manifest)):
        raise DataLoss(f"the manifest of file {file_id} has an invalid owner signature")
    if expected_owner is not None and signed.owner_public_key != expected_owner:
        raise PermissionDenied(f"the manifest of file {file_id} is signed by another owner")
    manifest = types_pb2.Manifest()
    try:
        manifest.ParseFromString(signed.manifest)
    except DecodeError:
        raise DataLoss(f"the manifest of file {file_id} cannot be decoded") from None
    if manifest.file_id != file_id:
        raise DataLoss(
            f"the index returned the manifest of file {shown(manifest.file_id)} "
            f"when asked for {file_id}"
        )
    problem = layout_problem(manifest)
    if problem:
        raise DataLoss(f"the manifest of file {file_id} is inconsistent: {problem}")
    return manifest


def layout_problem(manifest: types_pb2.Manifest) -> str | None:
    """Why the manifest's segments cannot rebuild a file of its size, or None when they can —
    replicated (a chunk per segment) or erasure coded (k + m shares per segment)."""
    coded = manifest.HasField("erasure")
    k, m = manifest.erasure.data_shares, manifest.erasure.parity_shares
    if coded and (k < 1 or m < 1 or k + m > MAX_SHARES):
        return f"erasure code {k}+{m} is not usable"
    if manifest.cipher != types_pb2.CIPHER_AES_256_GCM:
        return f"unsupported cipher {manifest.cipher}"
    if manifest.size and not 0 < manifest.segment_size <= MAX_SEGMENT_SIZE:
        return f"segment size {manifest.segment_size} is out of range"
    # Counted before the layout is built: a signed size of 2^64 bytes must not become a list
    # of 2^48 segments (found by fuzz/).
    needed = -(-manifest.size // (manifest.segment_size or 1))
    if len(manifest.segments) != needed:
        return f"{len(manifest.segments)} segments where {needed} are needed"
    expected = segment_layout(manifest.size, manifest.segment_size or 1)
    for seg, span in zip(manifest.segments, expected, strict=True):
        if seg.index != span.index:
            return f"segment {span.index} is out of order"
        if seg.plain_size != span.length or seg.stored_size != stored_size(span.length):
            return f"segment {span.index} has the wrong size"
        if coded:
            if problem := _shares_problem(seg, k, m):
                return problem
            continue
        if not is_chunk_id(seg.chunk_id):
            return f"segment {span.index} has an invalid chunk ID"
        if not seg.node_ids:
            return f"segment {span.index} names no nodes"
    return None


def _shares_problem(seg: types_pb2.Segment, k: int, m: int) -> str | None:
    if len(seg.shares) != k + m:
        return f"segment {seg.index} has {len(seg.shares)} shares, not {k + m}"
    size = share_size(seg.stored_size, k)
    for i, share in enumerate(seg.shares):
        if share.index != i or share.size != size or not is_chunk_id(share.chunk_id):
            return f"share {i} of segment {seg.index} is malformed"
        if not share.node_ids:
            return f"share {i} of segment {seg.index} names no nodes"
    return None


def summarize(
    signed: types_pb2.SignedManifest, manifest: types_pb2.Manifest
) -> types_pb2.FileSummary:
    """The FileSummary the index would list for this manifest."""
    return file_summary(manifest, signed.owner_public_key)


def delete_request(
    file_id: str, identity: Identity, unix_ms: int | None = None
) -> index_pb2.DeleteFileRequest:
    ms = unix_ms if unix_ms is not None else now_ms()
    return index_pb2.DeleteFileRequest(
        file_id=file_id,
        unix_ms=ms,
        owner_public_key=identity.public_bytes,
        signature=identity.sign(delete_message(file_id, ms)),
    )
