"""Answering audits: proof that this node still holds a chunk's exact bytes.

An auditor sends a fresh nonce and a few byte ranges; the answer is
BLAKE3-256(nonce || bytes of ranges[0] || bytes of ranges[1] ...), which only a node holding those
bytes can compute. The whole chunk is read and hashed on the way (one pass, like a whole-chunk
GetChunk), so a node never vouches for a corrupt copy: it reports DATA_LOSS and quarantines it.
The range bytes are collected while streaming; their total is capped, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stratos.common.errors import InvalidArgument
from stratos.common.hashing import new_hasher
from stratos.storage.chunkstore import ChunkStore, check_chunk_id

MIN_NONCE_BYTES = 16
MAX_NONCE_BYTES = 1024
MAX_RANGES = 16
MAX_AUDIT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Range:
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


def validate_challenge(nonce: bytes, ranges: Sequence[Range]) -> None:
    """Checks that need no chunk: nonce length, range count, lengths and total size."""
    if not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES:
        raise InvalidArgument(
            f"the audit nonce is {len(nonce)} bytes; it must be {MIN_NONCE_BYTES} to "
            f"{MAX_NONCE_BYTES} bytes"
        )
    if not 1 <= len(ranges) <= MAX_RANGES:
        raise InvalidArgument(f"an audit names 1 to {MAX_RANGES} byte ranges, not {len(ranges)}")
    if any(r.length == 0 for r in ranges):
        raise InvalidArgument("every audited byte range must be at least 1 byte long")
    total = sum(r.length for r in ranges)
    if total > MAX_AUDIT_BYTES:
        raise InvalidArgument(
            f"the audited ranges add up to {total} bytes; at most {MAX_AUDIT_BYTES} are answered"
        )


def validate_ranges_inside(chunk_id: str, ranges: Sequence[Range], size: int) -> None:
    for r in ranges:
        if r.end > size:
            raise InvalidArgument(
                f"byte range {r.offset}+{r.length} runs past the end of chunk {chunk_id} "
                f"({size} bytes)"
            )


class RangeCollector:
    """Keeps the bytes of each range as the chunk streams past, in pieces at any offsets."""

    def __init__(self, ranges: Sequence[Range]) -> None:
        self.ranges = list(ranges)
        self._parts = [bytearray() for _ in self.ranges]

    def feed(self, offset: int, piece: bytes | memoryview) -> None:
        """`piece` holds the chunk's bytes [offset, offset + len(piece)); pieces come in order."""
        end = offset + len(piece)
        view = memoryview(piece)
        for r, part in zip(self.ranges, self._parts, strict=True):
            lo, hi = max(r.offset, offset), min(r.end, end)
            if lo < hi:
                part += view[lo - offset : hi - offset]

    def digest(self, nonce: bytes) -> bytes:
        for r, part in zip(self.ranges, self._parts, strict=True):
            if len(part) != r.length:  # a bug or a short read, never a valid answer
                raise RuntimeError(f"range {r.offset}+{r.length} got {len(part)} bytes")
        return audit_digest(nonce, self._parts)


def audit_digest(nonce: bytes, range_bytes: Sequence[bytes | bytearray]) -> bytes:
    """BLAKE3-256(nonce || range_bytes[0] || range_bytes[1] ...): what the auditor expects."""
    hasher = new_hasher()
    hasher.update(nonce)
    for part in range_bytes:
        hasher.update(part)
    return hasher.digest()


def answer_audit(store: ChunkStore, chunk_id: str, nonce: bytes, ranges: Sequence[Range]) -> bytes:
    """Blocking: the audit digest of a stored chunk, verifying the whole chunk while reading.

    Raises InvalidArgument (bad challenge), NotFound (chunk absent) or DataLoss (corrupt; the
    copy is quarantined by the store)."""
    check_chunk_id(chunk_id)
    validate_challenge(nonce, ranges)
    with store.open_reader(chunk_id) as reader:
        validate_ranges_inside(chunk_id, ranges, reader.total_size)
        collector = RangeCollector(ranges)
        pos = 0
        while piece := reader.read_piece():
            collector.feed(pos, piece)
            pos += len(piece)
    return collector.digest(nonce)
