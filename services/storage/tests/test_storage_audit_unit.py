"""The audit answer: digest, challenge validation and reading a real chunk store on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from blake3 import blake3
from hypothesis import given
from hypothesis import strategies as st

from stratos.common.errors import DataLoss, InvalidArgument, NotFound
from stratos.common.hashing import chunk_id
from stratos.storage.audit import (
    MAX_AUDIT_BYTES,
    MAX_RANGES,
    Range,
    RangeCollector,
    answer_audit,
    audit_digest,
    validate_challenge,
    validate_ranges_inside,
)
from stratos.storage.chunkstore import ChunkStore

MIB = 1024 * 1024
NONCE = bytes(range(16))


def expected(nonce: bytes, data: bytes, ranges: list[Range]) -> bytes:
    return blake3(nonce + b"".join(data[r.offset : r.end] for r in ranges)).digest()


def test_digest_is_blake3_of_nonce_then_ranges_in_order() -> None:
    assert audit_digest(b"n" * 16, [b"ab", b"cd"]) == blake3(b"n" * 16 + b"abcd").digest()
    assert audit_digest(b"n" * 16, [b"cd", b"ab"]) != audit_digest(b"n" * 16, [b"ab", b"cd"])
    assert len(audit_digest(NONCE, [b"x"])) == 32


@given(
    data=st.binary(min_size=1, max_size=300),
    raw_ranges=st.lists(st.tuples(st.integers(0, 299), st.integers(1, 300)), min_size=1),
    cuts=st.lists(st.integers(1, 64), max_size=20),
)
def test_collector_matches_slicing_whatever_the_piece_boundaries(
    data: bytes, raw_ranges: list[tuple[int, int]], cuts: list[int]
) -> None:
    ranges = [
        Range(o % len(data), min(n, len(data) - o % len(data))) for o, n in raw_ranges[:MAX_RANGES]
    ]
    collector = RangeCollector(ranges)
    pos = 0
    for cut in [*cuts, len(data)]:
        piece = data[pos : pos + cut]
        collector.feed(pos, piece)
        pos += len(piece)
    assert collector.digest(NONCE) == expected(NONCE, data, ranges)


@pytest.mark.parametrize(
    ("nonce", "ranges", "sentence"),
    [
        (b"x" * 15, [Range(0, 1)], "nonce is 15 bytes"),
        (b"x" * 2000, [Range(0, 1)], "nonce is 2000 bytes"),
        (NONCE, [], "1 to 16 byte ranges, not 0"),
        (NONCE, [Range(0, 1)] * 17, "not 17"),
        (NONCE, [Range(5, 0)], "at least 1 byte"),
        (NONCE, [Range(0, MAX_AUDIT_BYTES), Range(0, 1)], "add up to"),
    ],
)
def test_bad_challenges_are_refused_with_one_sentence(
    nonce: bytes, ranges: list[Range], sentence: str
) -> None:
    with pytest.raises(InvalidArgument, match=sentence) as info:
        validate_challenge(nonce, ranges)
    assert "\n" not in str(info.value)


def test_ranges_must_lie_inside_the_chunk() -> None:
    validate_ranges_inside("c", [Range(0, 10), Range(9, 1)], 10)
    with pytest.raises(InvalidArgument, match="runs past the end"):
        validate_ranges_inside("c", [Range(5, 6)], 10)


@pytest.fixture
def store(tmp_path: Path) -> ChunkStore:
    return ChunkStore(tmp_path, node_id="audit-node", capacity_bytes=64 * MIB)


def test_answer_over_a_multi_piece_chunk(store: ChunkStore) -> None:
    data = os.urandom(3 * MIB + 5)
    cid = chunk_id(data)
    store.put(cid, data)
    # Ranges straddle piece boundaries, repeat and come out of order.
    ranges = [Range(MIB - 3, 10), Range(0, 1), Range(3 * MIB, 5), Range(MIB - 3, 10)]
    assert answer_audit(store, cid, NONCE, ranges) == expected(NONCE, data, ranges)


def test_missing_chunk_is_not_found(store: ChunkStore) -> None:
    with pytest.raises(NotFound):
        answer_audit(store, chunk_id(b"absent"), NONCE, [Range(0, 1)])


def test_corrupt_chunk_is_data_loss_and_quarantined(store: ChunkStore) -> None:
    data = os.urandom(2 * MIB)
    cid = chunk_id(data)
    store.put(cid, data)
    path = store.path_of(cid)
    with open(path, "r+b") as f:  # flip one byte far from the audited range
        f.seek(MIB + 17)
        byte = f.read(1)
        f.seek(MIB + 17)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(DataLoss, match="corrupt"):
        answer_audit(store, cid, NONCE, [Range(0, 16)])
    assert not path.exists()
    assert len(list(store.quarantine_dir.iterdir())) == 1
    assert store.stat().chunk_count == 0


def test_invalid_chunk_id_is_refused(store: ChunkStore) -> None:
    with pytest.raises(InvalidArgument):
        answer_audit(store, "../etc/passwd", NONCE, [Range(0, 1)])
