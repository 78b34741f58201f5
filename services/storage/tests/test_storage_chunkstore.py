"""The chunk store on disk: what it keeps, what it refuses, and what it notices gone bad."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stratos.common.errors import DataLoss, InvalidArgument, NotFound, ResourceExhausted
from stratos.common.hashing import chunk_id
from stratos.storage.chunkstore import PIECE_BYTES, ChunkStore

MIB = 1024 * 1024


def make_store(root: Path, capacity: int = 64 * MIB, max_chunk: int | None = None) -> ChunkStore:
    return ChunkStore(root, node_id="node-t", capacity_bytes=capacity, max_chunk_bytes=max_chunk)


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


def test_round_trip_returns_the_same_bytes_and_counts_them(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    data = os.urandom(2 * PIECE_BYTES + 123)
    cid = chunk_id(data)
    result = store.put(cid, data)
    assert (result.chunk_id, result.size, result.already_present) == (cid, len(data), False)
    assert b"".join(store.read(cid)) == data
    assert store.path_of(cid) == tmp_path / "chunks" / cid[:2] / cid
    st = store.stat()
    assert (st.used_bytes, st.chunk_count, st.reserved_bytes) == (len(data), 1, 0)
    assert store.has([cid, chunk_id(b"other")]) == [True, False]


def test_pieces_are_at_most_one_mib(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    data = os.urandom(3 * PIECE_BYTES + 5)
    cid = chunk_id(data)
    store.put(cid, data)
    assert [len(p) for p in store.read(cid)] == [PIECE_BYTES] * 3 + [5]


def test_empty_chunk_round_trips(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    cid = chunk_id(b"")
    store.put(cid, b"")
    assert b"".join(store.read(cid)) == b""
    assert store.open_reader(cid).total_size == 0


def test_hash_mismatch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    claimed = chunk_id(b"what the client promised")
    with pytest.raises(InvalidArgument, match="nothing was stored"):
        store.put(claimed, b"what the client sent")
    assert files_under(tmp_path / "chunks") == []
    assert files_under(tmp_path / "tmp") == []
    st = store.stat()
    assert (st.used_bytes, st.reserved_bytes, st.chunk_count) == (0, 0, 0)


def test_wrong_length_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    data = b"x" * 100
    cid = chunk_id(data)
    with store.begin(cid, 200) as w:
        w.write(data)
        with pytest.raises(InvalidArgument, match="100 bytes arrived, 200 were announced"):
            w.commit()
    with store.begin(cid, 50) as w, pytest.raises(InvalidArgument, match="more bytes arrived"):
        w.write(data)
    assert files_under(tmp_path / "tmp") == []
    assert store.stat().reserved_bytes == 0


def test_oversized_chunk_is_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path, max_chunk=1000)
    with pytest.raises(InvalidArgument, match="at most 1000 bytes"):
        store.begin(chunk_id(b"a"), 1001)


def test_capacity_counts_stored_and_in_flight_bytes(tmp_path: Path) -> None:
    store = make_store(tmp_path, capacity=MIB)
    stored = os.urandom(MIB // 2)
    store.put(chunk_id(stored), stored)
    in_flight = store.begin(chunk_id(b"pending"), MIB // 4)  # reserved but not yet written
    with pytest.raises(ResourceExhausted, match="storage node node-t is full"):
        store.begin(chunk_id(b"too much"), MIB // 4 + 1)
    in_flight.abort()  # releasing the reservation makes room again
    store.begin(chunk_id(b"fits now"), MIB // 4 + 1).abort()
    assert store.stat().reserved_bytes == 0


def test_concurrent_reservations_never_overcommit(tmp_path: Path) -> None:
    store = make_store(tmp_path, capacity=MIB)

    def try_begin(i: int) -> bool:
        try:
            store.begin(chunk_id(str(i).encode()), MIB // 4)
        except ResourceExhausted:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        granted = sum(pool.map(try_begin, range(16)))
    assert granted == 4
    assert store.stat().reserved_bytes == MIB


def test_corrupt_copy_is_detected_quarantined_and_uncounted(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    data = os.urandom(PIECE_BYTES + 10)
    cid = chunk_id(data)
    store.put(cid, data)
    path = store.path_of(cid)
    with open(path, "r+b") as f:  # one flipped byte deep in the file
        f.seek(PIECE_BYTES + 3)
        f.write(bytes([data[PIECE_BYTES + 3] ^ 0xFF]))
    with pytest.raises(DataLoss, match="corrupt"):
        store.read(cid, 0, 10)  # even a range the damage is not in
    assert not path.exists()
    assert [p.name.split(".")[0] for p in files_under(tmp_path / "quarantine")] == [cid]
    st = store.stat()
    assert (st.used_bytes, st.chunk_count) == (0, 0)
    with pytest.raises(NotFound):
        store.read(cid)


def test_byte_ranges(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    data = os.urandom(3 * PIECE_BYTES)
    cid = chunk_id(data)
    store.put(cid, data)

    def rng(offset: int, length: int) -> bytes:
        return b"".join(store.read(cid, offset, length))

    assert rng(10, 20) == data[10:30]
    assert rng(PIECE_BYTES - 5, PIECE_BYTES + 10) == data[PIECE_BYTES - 5 : 2 * PIECE_BYTES + 5]
    assert rng(100, 0) == data[100:]  # length 0 = to the end
    assert rng(len(data) - 4, 1000) == data[-4:]  # cut at the end
    assert rng(len(data), 0) == b""
    with pytest.raises(InvalidArgument, match="past the end"):
        store.read(cid, len(data) + 1, 1)


def test_re_putting_a_stored_chunk_is_idempotent(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    data = os.urandom(5000)
    cid = chunk_id(data)
    assert store.put(cid, data).already_present is False
    assert store.put(cid, data).already_present is True
    st = store.stat()
    assert (st.used_bytes, st.chunk_count, st.reserved_bytes) == (5000, 1, 0)
    assert files_under(tmp_path / "tmp") == []


def test_re_putting_over_a_corrupt_copy_repairs_it(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    data = os.urandom(5000)
    cid = chunk_id(data)
    store.put(cid, data)
    store.path_of(cid).write_bytes(b"garbage")
    result = store.put(cid, data)
    assert result.already_present is False
    assert b"".join(store.read(cid)) == data
    assert (store.stat().used_bytes, store.stat().chunk_count) == (5000, 1)
    assert len(files_under(tmp_path / "quarantine")) == 1


def test_restart_recounts_and_clears_interrupted_writes(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    chunks = [os.urandom(1000 + i) for i in range(3)]
    for c in chunks:
        store.put(chunk_id(c), c)
    abandoned = store.begin(chunk_id(b"never finished"), 100)
    abandoned.write(b"half")  # a crash here leaves a temp file behind
    assert files_under(tmp_path / "tmp") != []

    reopened = make_store(tmp_path)
    st = reopened.stat()
    assert (st.used_bytes, st.chunk_count, st.reserved_bytes) == (3003, 3, 0)
    assert files_under(tmp_path / "tmp") == []
    assert b"".join(reopened.read(chunk_id(chunks[1]))) == chunks[1]


def test_delete(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    cid = chunk_id(b"bye")
    store.put(cid, b"bye")
    assert store.delete(cid) is True
    assert store.delete(cid) is False
    assert store.has([cid]) == [False]
    assert (store.stat().used_bytes, store.stat().chunk_count) == (0, 0)


def test_a_delete_planned_before_the_chunk_was_written_again_keeps_it(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    data = b"looked like an orphan"
    cid = chunk_id(data)
    store.put(cid, data)
    old = time.time() - 3600
    os.utime(store.path_of(cid), (old, old))
    planned_ms = int((time.time() - 60) * 1000)  # GC planned the delete a minute ago...
    assert store.put(cid, data).already_present is True  # ...then a writer stored it again
    assert store.delete(cid, unless_written_after_ms=planned_ms) is False
    assert store.has([cid]) == [True]
    # planned after the last write: it goes
    assert store.delete(cid, unless_written_after_ms=int(time.time() * 1000) + 1000) is True
    assert store.has([cid]) == [False]


def test_unknown_chunk_names_the_node(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    cid = chunk_id(b"absent")
    with pytest.raises(NotFound, match=f"chunk {cid} is not stored on node-t"):
        store.read(cid)


@pytest.mark.parametrize(
    "bad", ["", "abc", "A" * 64, "g" * 64, "../" + "a" * 61, chunk_id(b"x") + "0"]
)
def test_bad_ids_are_refused_everywhere(tmp_path: Path, bad: str) -> None:
    store = make_store(tmp_path)
    for call in (
        lambda: store.begin(bad, 1),
        lambda: store.read(bad),
        lambda: store.has([chunk_id(b"ok"), bad]),
        lambda: store.delete(bad),
    ):
        with pytest.raises(InvalidArgument, match="is not a chunk ID"):
            call()


@pytest.mark.parametrize("offset", [0, PIECE_BYTES + 1])
def test_a_corrupt_chunk_is_never_delivered_whole(tmp_path: Path, offset: int) -> None:
    """Whole reads are verified while streaming: the last piece is held back and DataLoss is
    raised instead; range reads are verified before the first byte."""
    store = make_store(tmp_path)
    data = os.urandom(3 * PIECE_BYTES + 17)
    cid = chunk_id(data)
    store.put(cid, data)
    path = store.path_of(cid)
    damaged = bytearray(path.read_bytes())
    damaged[-1] ^= 0x01  # in the last piece
    path.write_bytes(bytes(damaged))
    delivered = 0
    with pytest.raises(DataLoss, match="quarantined"):
        for piece in store.read(cid, offset=offset):
            delivered += len(piece)
    assert delivered < len(data) - offset
    assert not store.has([cid])[0]
    assert store.stat().used_bytes == 0
