"""What makes a signed manifest acceptable, and the exact bytes owners sign.

Pure functions: the store calls them before touching JetStream, and unit tests call them
directly. Every refusal is one sentence naming the offending field.

The index holds no file key, so it cannot read a file's name: it checks only that the name is
sealed (`stratos.common.sealed_metadata`) and refuses a manifest that carries one in plaintext,
so a stale client cannot leak names into the store, NATS and every listing.
"""

from __future__ import annotations

import re

from google.protobuf.message import DecodeError

from stratos.common.bounds import MAX_UNIX_MS, check_range
from stratos.common.erasure import MAX_SHARES, share_size
from stratos.common.errors import InvalidArgument, PermissionDenied
from stratos.common.hashing import is_chunk_id
from stratos.common.identity import verify
from stratos.common.limits import GCM_TAG_BYTES, MAX_REPLICAS
from stratos.common.manifests import delete_message, manifest_message
from stratos.common.sealed_metadata import shape_problem
from stratos.common.segment_limits import (
    check_manifest_bytes,
    check_segment_count,
    check_segment_size,
)
from stratos.common.shown import shown
from stratos.v1 import types_pb2

__all__ = ["GCM_TAG_BYTES"]
DELETE_CLOCK_SKEW_MS = 5 * 60 * 1000
FILE_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def check_file_id(file_id: str) -> str:
    if not FILE_ID_RE.match(file_id):
        raise InvalidArgument(f"{shown(file_id)} is not a file ID (expected 32 hex characters)")
    return file_id


def _check_key(public_key: bytes) -> None:
    if len(public_key) != 32:
        raise InvalidArgument(
            f"the owner public key must be 32 bytes (raw ed25519), got {len(public_key)}"
        )


def check_owner_key(public_key: bytes) -> None:
    """A listing's owner filter: empty (every owner) or a raw ed25519 public key."""
    if public_key:
        _check_key(public_key)


def verify_signed(signed: types_pb2.SignedManifest) -> types_pb2.Manifest:
    """Check the owner's signature, then parse and validate the manifest it covers."""
    # first: a manifest larger than one NATS message could never be stored anyway
    check_manifest_bytes(signed.ByteSize())
    _check_key(signed.owner_public_key)
    if not verify(signed.owner_public_key, signed.signature, manifest_message(signed.manifest)):
        raise PermissionDenied("the manifest signature does not match the owner public key")
    manifest = types_pb2.Manifest()
    try:
        manifest.ParseFromString(signed.manifest)
    except DecodeError:
        raise InvalidArgument("the signed manifest bytes are not a valid Manifest") from None
    validate_manifest(manifest)
    return manifest


def validate_manifest(m: types_pb2.Manifest) -> None:
    """Structural rules a reader relies on to fetch and decrypt every byte of the file."""
    check_file_id(m.file_id)
    _check_sealed_name(m)
    check_range("the manifest's replicas", m.replicas, 1, MAX_REPLICAS)
    # Readers show these dates; one no calendar holds would break every listing of the mesh.
    check_range("the manifest's created_unix_ms", m.created_unix_ms, 0, MAX_UNIX_MS)
    check_range("the manifest's expires_unix_ms", m.expires_unix_ms, 0, MAX_UNIX_MS)
    coded = m.HasField("erasure")
    if coded:
        _check_code(m)
    if m.size:
        # the bounds our SDK checks before a put; a client that skipped them is refused here
        check_segment_size(m.segment_size)
        code = (m.erasure.data_shares, m.erasure.parity_shares) if coded else None
        check_segment_count(m.size, m.segment_size, m.replicas, code)
    if m.cipher != types_pb2.CIPHER_AES_256_GCM:
        # The only cipher readers can decrypt; the stored_size rule below assumes its tag.
        raise InvalidArgument(f"the manifest's cipher must be AES-256-GCM, got {m.cipher}")
    total = 0
    last = len(m.segments) - 1
    for position, seg in enumerate(m.segments):
        where = f"segment {position}"
        if seg.index != position:
            raise InvalidArgument(
                f"{where} has index {seg.index}; segments must be numbered 0..n-1 in order"
            )
        if position < last and seg.plain_size != m.segment_size:
            raise InvalidArgument(
                f"{where} holds {seg.plain_size} bytes; every segment but the last must hold "
                f"segment_size ({m.segment_size})"
            )
        if position == last and not 0 < seg.plain_size <= m.segment_size:
            raise InvalidArgument(
                f"{where} holds {seg.plain_size} bytes; the last segment must hold 1 to "
                f"segment_size ({m.segment_size}) bytes (an empty file has no segments)"
            )
        if seg.stored_size != seg.plain_size + GCM_TAG_BYTES:
            raise InvalidArgument(
                f"{where} stores {seg.stored_size} bytes; expected plain_size + "
                f"{GCM_TAG_BYTES} ({seg.plain_size + GCM_TAG_BYTES})"
            )
        if coded:
            _check_shares(where, seg, m.erasure.data_shares, m.erasure.parity_shares)
        else:
            _check_replicated(where, seg)
        total += seg.plain_size
    if total != m.size:
        raise InvalidArgument(
            f"the segments hold {total} bytes but the manifest says the file has {m.size}"
        )


def _check_sealed_name(m: types_pb2.Manifest) -> None:
    if m.legacy_name:
        raise InvalidArgument(
            "the manifest carries its file name in plaintext; names are sealed in its metadata "
            "field now, so the index never sees them (update the client)"
        )
    if not m.HasField("metadata"):
        raise InvalidArgument("the manifest has no sealed metadata; it must carry the file's name")
    if problem := shape_problem(m.metadata):
        raise InvalidArgument(f"the manifest's sealed metadata is malformed: {problem}")


def _check_replicated(where: str, seg: types_pb2.Segment) -> None:
    if seg.shares:
        raise InvalidArgument(
            f"{where} lists erasure-coded shares but the manifest sets no erasure code"
        )
    if not is_chunk_id(seg.chunk_id):
        raise InvalidArgument(
            f"{where} has chunk ID {shown(seg.chunk_id)}; expected 64 lowercase hex characters"
        )
    if not seg.node_ids or any(not n for n in seg.node_ids):
        raise InvalidArgument(f"{where} names no storage node holding it")
    if len(set(seg.node_ids)) != len(seg.node_ids):
        raise InvalidArgument(f"{where} names the same storage node twice")


def _check_code(m: types_pb2.Manifest) -> None:
    k, p = m.erasure.data_shares, m.erasure.parity_shares
    if k < 1 or p < 1 or k + p > MAX_SHARES:
        raise InvalidArgument(
            f"the erasure code {k}+{p} is invalid; it needs at least 1 data and 1 parity share "
            f"and at most {MAX_SHARES} shares in all"
        )
    if m.replicas != 1:
        raise InvalidArgument(
            f"an erasure-coded manifest must set replicas to 1 (its shares are the redundancy), "
            f"got {m.replicas}"
        )


def _check_shares(where: str, seg: types_pb2.Segment, k: int, p: int) -> None:
    """k + p shares numbered in order, all one size that holds the segment, on distinct nodes."""
    if seg.chunk_id or seg.node_ids:
        raise InvalidArgument(
            f"{where} of an erasure-coded file must leave chunk_id and node_ids empty "
            "(its shares say where it is)"
        )
    if len(seg.shares) != k + p:
        raise InvalidArgument(
            f"{where} has {len(seg.shares)} shares; the {k}+{p} code needs {k + p}"
        )
    size = share_size(seg.stored_size, k)
    holders: set[str] = set()
    for position, share in enumerate(seg.shares):
        at = f"share {position} of {where}"
        if share.index != position:
            raise InvalidArgument(
                f"{at} has index {share.index}; shares must be numbered 0..{k + p - 1} in order"
            )
        if not is_chunk_id(share.chunk_id):
            raise InvalidArgument(
                f"{at} has chunk ID {shown(share.chunk_id)}; expected 64 lowercase hex characters"
            )
        if share.size != size:
            raise InvalidArgument(
                f"{at} holds {share.size} bytes; {seg.stored_size} stored bytes in {k} data "
                f"shares make {size}-byte shares"
            )
        if not share.node_ids or any(not n for n in share.node_ids):
            raise InvalidArgument(f"{at} names no storage node holding it")
        for node in share.node_ids:
            if node in holders:
                raise InvalidArgument(
                    f"{where} puts two of its shares on {shown(node)}; "
                    "each share needs its own node"
                )
            holders.add(node)


def check_not_expired(m: types_pb2.Manifest, now_ms: int) -> None:
    """A manifest whose expiry has already passed would vanish as it is stored; refuse it."""
    if m.expires_unix_ms and m.expires_unix_ms <= now_ms:
        raise InvalidArgument(
            f"file {m.file_id} expires at unix_ms {m.expires_unix_ms}, which has already "
            f"passed (the index clock reads {now_ms}); put it again with a longer TTL"
        )


def verify_delete(
    file_id: str, unix_ms: int, public_key: bytes, signature: bytes, now_ms: int
) -> None:
    """A delete must be fresh (so a captured request cannot be replayed days later) and signed."""
    check_file_id(file_id)
    _check_key(public_key)
    if abs(now_ms - unix_ms) > DELETE_CLOCK_SKEW_MS:
        raise PermissionDenied(
            f"the delete was signed at unix_ms {unix_ms}, more than 5 minutes from the index "
            f"clock ({now_ms}); sign it again"
        )
    if not verify(public_key, signature, delete_message(file_id, unix_ms)):
        raise PermissionDenied("the delete signature does not match the given public key")
