"""How a file may be cut into segments: the segment-size bounds, and how many segments one
manifest can name — computed from the encoded size of a worst-case manifest entry, not guessed.

The SDK checks these before a put moves a byte; the index checks them again when a manifest is
committed (a hostile client need not use our SDK). Both say the same sentence, naming the limit.
Why the numbers are what they are is in `stratos.common.limits`. Pure functions.
"""

from __future__ import annotations

import functools

from stratos.common.errors import InvalidArgument
from stratos.common.limits import (
    MAX_CHUNK_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_NODE_ID_CHARS,
    MAX_SEGMENT_BYTES,
    MIN_SEGMENT_BYTES,
)
from stratos.v1 import types_pb2

_U32 = 2**32 - 1
_U64 = 2**64 - 1
_CHUNK_ID = "f" * 64
_NODE_ID = "n" * MAX_NODE_ID_CHARS


def format_bytes(n: int) -> str:
    """Binary units, exact where a limit is a whole number of them: 65536 → '64 KiB'."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} B" if n != 1 else "1 byte"


def check_segment_size(segment_size: int) -> int:
    """`segment_size` when it is within the bounds, else the sentence naming them."""
    if not MIN_SEGMENT_BYTES <= segment_size <= MAX_SEGMENT_BYTES:
        raise InvalidArgument(
            f"the segment size must be between {format_bytes(MIN_SEGMENT_BYTES)} and "
            f"{format_bytes(MAX_SEGMENT_BYTES)}, not {format_bytes(segment_size)}"
        )
    return segment_size


def segment_count(size: int, segment_size: int) -> int:
    return -(-size // segment_size)


def _varint_len(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def _field_len(body: int) -> int:
    """Bytes of a length-delimited field with a one-byte tag around a `body`-byte value."""
    return 1 + _varint_len(body) + body


@functools.cache
def segment_entry_bytes(replicas: int, code: tuple[int, int] | None = None) -> int:
    """The most bytes one segment adds to a manifest: every integer at its widest, a full
    chunk ID, and the longest node ID on each copy (or on each of the k + m shares). Counted,
    not built: `replicas` and `code` may come from a stranger's manifest, and a list of four
    billion node IDs must not be the way we learn that it does not fit."""
    copies = replicas if code is None else code[0] + code[1]
    if code is None:
        base, item = _segment_sizes()
    else:
        base, item = _coded_segment_sizes()
    return _field_len(base + max(0, copies) * item)


@functools.cache
def _segment_sizes() -> tuple[int, int]:
    """(bytes of a widest replicated segment without node IDs, bytes each node ID adds)."""
    seg = types_pb2.Segment(
        index=_U32, chunk_id=_CHUNK_ID, plain_size=MAX_SEGMENT_BYTES, stored_size=MAX_CHUNK_BYTES
    )
    one = types_pb2.Segment()
    one.CopyFrom(seg)
    one.node_ids.append(_NODE_ID)
    return seg.ByteSize(), one.ByteSize() - seg.ByteSize()


@functools.cache
def _coded_segment_sizes() -> tuple[int, int]:
    """(bytes of a widest coded segment without shares, bytes each widest share adds)."""
    seg = types_pb2.Segment(index=_U32, plain_size=MAX_SEGMENT_BYTES, stored_size=MAX_CHUNK_BYTES)
    share = types_pb2.Share(
        index=_U32, chunk_id=_CHUNK_ID, size=MAX_CHUNK_BYTES, node_ids=[_NODE_ID]
    )
    one = types_pb2.Segment()
    one.CopyFrom(seg)
    one.shares.append(share)
    return seg.ByteSize(), one.ByteSize() - seg.ByteSize()


@functools.cache
def _fixed_bytes() -> int:
    """The most bytes of a signed manifest besides its segments: the widest header (the largest
    sealed name) and the owner's key and signature around it."""
    # imported here: it brings `cryptography`, which `stratos put` checks need not load
    from stratos.common import sealed_metadata

    header = types_pb2.Manifest(
        file_id="f" * 32,
        metadata=sealed_metadata.widest(),
        size=_U64,
        segment_size=_U32,
        replicas=_U32,
        cipher=types_pb2.CIPHER_AES_256_GCM,
        created_unix_ms=-1,
        expires_unix_ms=-1,
        erasure=types_pb2.ErasureCode(data_shares=_U32, parity_shares=_U32),
    )
    signed = types_pb2.SignedManifest(owner_public_key=bytes(32), signature=bytes(64))
    # the manifest field: its tag and the widest length a manifest within the limit can have
    return signed.ByteSize() + 1 + _varint_len(MAX_MANIFEST_BYTES) + header.ByteSize()


def max_segments(replicas: int, code: tuple[int, int] | None = None) -> int:
    """How many segments a manifest of this redundancy can name within MAX_MANIFEST_BYTES."""
    return (MAX_MANIFEST_BYTES - _fixed_bytes()) // segment_entry_bytes(replicas, code)


def _redundancy(replicas: int, code: tuple[int, int] | None) -> str:
    if code is not None:
        return f"erasure code {code[0]}+{code[1]}"
    return f"{replicas} {'copy' if replicas == 1 else 'copies'}"


def _why(replicas: int, code: tuple[int, int] | None) -> str:
    return (
        f"a manifest names at most {max_segments(replicas, code)} segments with "
        f"{_redundancy(replicas, code)} (it is stored as one message of at most "
        f"{format_bytes(MAX_MANIFEST_BYTES)})"
    )


def check_segment_count(
    size: int, segment_size: int, replicas: int, code: tuple[int, int] | None = None
) -> None:
    """The sentence for a file that would need more segments than its manifest can name,
    with the segment size that would fit."""
    n = segment_count(size, segment_size)
    if n <= max_segments(replicas, code):
        return
    fits = fitting_segment_size(size, segment_size, replicas, code)
    raise InvalidArgument(
        f"a {format_bytes(size)} file in {format_bytes(segment_size)} segments needs {n} "
        f"segments, but {_why(replicas, code)}; use a segment size of at least "
        f"{format_bytes(fits)}"
    )


def fitting_segment_size(
    size: int, preferred: int, replicas: int, code: tuple[int, int] | None = None
) -> int:
    """`preferred` (clamped into the bounds), doubled until the file's segments fit one
    manifest; the sentence naming the limit when not even the largest segments do."""
    limit = max_segments(replicas, code)
    segment_size = min(max(preferred, MIN_SEGMENT_BYTES), MAX_SEGMENT_BYTES)
    while segment_count(size, segment_size) > limit:
        if segment_size == MAX_SEGMENT_BYTES:
            raise InvalidArgument(
                f"a {format_bytes(size)} file is too large for one manifest: {_why(replicas, code)}"
                f", and segments are at most {format_bytes(MAX_SEGMENT_BYTES)}, so a file can hold "
                f"at most {format_bytes(limit * MAX_SEGMENT_BYTES)}"
            )
        segment_size = min(segment_size * 2, MAX_SEGMENT_BYTES)
    return segment_size


def check_manifest_bytes(n_bytes: int) -> None:
    """The sentence for a signed manifest larger than the index stores."""
    if n_bytes > MAX_MANIFEST_BYTES:
        raise InvalidArgument(
            f"the signed manifest is {n_bytes} bytes; the index stores manifests of at most "
            f"{format_bytes(MAX_MANIFEST_BYTES)} (one NATS message), so use larger segments"
        )
