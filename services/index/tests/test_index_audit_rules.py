"""The pure audit rules: what to challenge, what to ask, the right answer, and what an answer
means."""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest
from blake3 import blake3

from stratos.common.errors import (
    DataLoss,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    StratosError,
    Unavailable,
)
from stratos.common.hashing import chunk_id
from stratos.index.audit_rules import (
    CHUNK_CORRUPT,
    CHUNK_MISSING,
    MAX_AUDIT_BYTES,
    MAX_RANGES,
    REFUSED,
    UNREACHABLE,
    WRONG_DIGEST,
    Challenge,
    ExpectedAnswer,
    Range,
    Target,
    expected_digest,
    judge_answer,
    judge_error,
    make_challenge,
    pick_targets,
    still_held,
)
from stratos.index.registry import LIVE, LOST, SUSPECT
from stratos.index.repair_plan import FileView, NodeView
from stratos.v1 import types_pb2

MIB = 1024 * 1024


def nodes(*ids: str, states: dict[str, int] | None = None) -> dict[str, NodeView]:
    states = states or {}
    return {n: NodeView(n, f"addr-{n}", "z1", states.get(n, LIVE), 1 << 30, 1 << 30) for n in ids}


def replicated(file_id: str, chunks: list[tuple[str, list[str]]]) -> FileView:
    segs = [
        types_pb2.Segment(index=i, chunk_id=cid, plain_size=84, stored_size=100, node_ids=where)
        for i, (cid, where) in enumerate(chunks)
    ]
    return FileView(types_pb2.Manifest(file_id=file_id, replicas=2, segments=segs))


def cid(i: int) -> str:
    return chunk_id(f"chunk-{i}".encode())


# -- challenges ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 17, 4096, MIB - 1, 4 * MIB + 16, 64 * MIB])
def test_challenge_ranges_are_non_empty_inside_the_chunk_and_at_most_1_mib(size: int) -> None:
    rng = random.Random(size)
    for _ in range(300):
        c = make_challenge(size, os.urandom(32), rng)
        assert 1 <= len(c.ranges) <= MAX_RANGES
        assert all(r.length >= 1 and r.offset >= 0 and r.end <= size for r in c.ranges)
        assert sum(r.length for r in c.ranges) <= MAX_AUDIT_BYTES


def test_challenges_vary_and_keep_the_nonce_given() -> None:
    rng = random.Random(7)
    nonce = os.urandom(32)
    seen = {make_challenge(10 * MIB, nonce, rng).ranges for _ in range(50)}
    assert len(seen) == 50
    assert make_challenge(100, nonce, rng).nonce == nonce


@pytest.mark.parametrize(
    ("size", "nonce_len", "sentence"),
    [
        (0, 32, "a chunk of 0 bytes has no byte to challenge"),
        (10, 8, "nonce must be 16 to 1024 bytes, not 8"),
        (10, 2000, "not 2000"),
    ],
)
def test_impossible_challenges_are_refused_in_one_sentence(
    size: int, nonce_len: int, sentence: str
) -> None:
    with pytest.raises(InvalidArgument, match=sentence):
        make_challenge(size, b"n" * nonce_len, random.Random(1))


# -- the right answer ----------------------------------------------------------------------


def test_expected_digest_is_blake3_of_nonce_and_ranges_in_order() -> None:
    data = os.urandom(3 * MIB + 5)
    nonce = os.urandom(32)
    ranges = (Range(2 * MIB, 100), Range(0, 1), Range(len(data) - 9, 9))
    want = blake3(nonce + b"".join(data[r.offset : r.end] for r in ranges)).digest()
    assert expected_digest(chunk_id(data), data, Challenge(nonce, ranges)) == want


def test_expected_answer_fed_in_uneven_pieces_matches_the_reference() -> None:
    data = os.urandom(300_000)
    rng = random.Random(3)
    for _ in range(20):
        c = make_challenge(len(data), os.urandom(16), rng)
        check = ExpectedAnswer(chunk_id(data), len(data), c)
        pos = 0
        while pos < len(data):
            step = rng.randint(1, 70_000)
            check.feed(memoryview(data)[pos : pos + step])
            pos += step
        want = blake3(c.nonce + b"".join(data[r.offset : r.end] for r in c.ranges)).digest()
        assert check.digest() == want


def test_bytes_that_are_not_the_chunk_give_no_answer() -> None:
    data = os.urandom(1000)
    c = Challenge(os.urandom(16), (Range(0, 10),))
    altered = bytes([data[0] ^ 1]) + data[1:]
    with pytest.raises(DataLoss, match="do not hash to chunk"):
        expected_digest(chunk_id(data), altered, c)
    with pytest.raises(DataLoss, match="do not hash"):
        expected_digest(chunk_id(data), data[:-1], c)  # too short (size is the bytes given)
    check = ExpectedAnswer(chunk_id(data), 999, c)
    with pytest.raises(DataLoss, match="more than the 999 bytes"):
        check.feed(data)


def test_a_range_outside_the_chunk_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="not inside chunk"):
        ExpectedAnswer(cid(1), 100, Challenge(os.urandom(16), (Range(95, 6),)))


# -- judging -------------------------------------------------------------------------------


def test_judging_answers_and_errors() -> None:
    good = os.urandom(32)
    assert judge_answer(good, good).passed
    wrong = judge_answer(good, os.urandom(32))
    assert (wrong.passed, wrong.reason, wrong.write_off) == (False, WRONG_DIGEST, True)
    cases = {
        NotFound("gone"): (CHUNK_MISSING, True),
        DataLoss("corrupt"): (CHUNK_CORRUPT, True),
        Unavailable("cannot reach"): (UNREACHABLE, False),
        DeadlineExceeded("slow"): (UNREACHABLE, False),
        StratosError("internal error"): (UNREACHABLE, False),
        InvalidArgument("bad range"): (REFUSED, False),
    }
    for err, (reason, write_off) in cases.items():
        v = judge_error(err)
        assert (v.passed, v.reason, v.write_off) == (False, reason, write_off), err


# -- what to audit -------------------------------------------------------------------------


def test_only_live_holders_are_picked_each_with_the_other_live_holders() -> None:
    view = nodes("a", "b", "c", "d", states={"c": SUSPECT, "d": LOST})
    files = [replicated("f1", [(cid(1), ["a", "b", "c", "d"])])]
    picked = pick_targets(files, view, 10, random.Random(1))
    assert sorted(t.node_id for t in picked) == ["a", "b"]
    by_node = {t.node_id: t for t in picked}
    assert by_node["a"].others == ("b",) and by_node["b"].others == ("a",)
    assert all(t.file_id == "f1" and t.chunk_id == cid(1) and t.size == 100 for t in picked)


def test_locations_override_the_manifest_and_shares_are_audited() -> None:
    f = replicated("f1", [(cid(1), ["a", "b"])])
    locs = types_pb2.FileLocations(
        file_id="f1", chunks=[types_pb2.ChunkLocation(chunk_id=cid(1), node_ids=["b", "c"])]
    )
    coded = types_pb2.Manifest(
        file_id="f2",
        segments=[
            types_pb2.Segment(
                index=0, shares=[types_pb2.Share(index=0, chunk_id=cid(2), size=50, node_ids=["a"])]
            )
        ],
    )
    picked = pick_targets(
        [FileView(f.manifest, locs), FileView(coded)], nodes("a", "b", "c"), 10, random.Random(2)
    )
    pairs = {(t.chunk_id, t.node_id, t.others) for t in picked}
    assert pairs == {(cid(1), "b", ("c",)), (cid(1), "c", ("b",)), (cid(2), "a", ())}


def test_no_pair_twice_in_a_round_and_nothing_to_pick_is_empty() -> None:
    files = [replicated("f1", [(cid(i), ["a", "b"]) for i in range(3)])]
    picked = pick_targets(files, nodes("a", "b"), 100, random.Random(5))
    assert len(picked) == 6 and len({(t.chunk_id, t.node_id) for t in picked}) == 6
    assert pick_targets(files, nodes("a", "b"), 0, random.Random(5)) == []
    assert pick_targets([], nodes("a"), 4, random.Random(5)) == []
    with pytest.raises(InvalidArgument, match="must not be negative"):
        pick_targets(files, nodes("a"), -1, random.Random(5))


def test_every_node_is_audited_regularly_however_little_it_holds() -> None:
    """One node holds one chunk, the others hundreds: with two audits a round among six nodes,
    each node still gets about a third of the rounds, and every chunk is reached in time."""
    ids = [f"n{i}" for i in range(6)]
    big = [(cid(i), [ids[i % 5], ids[(i + 1) % 5]]) for i in range(200)]
    small = [(cid(9999), ["n5", "n0"])]
    files = [replicated("f1", big), replicated("f2", small)]
    rng = random.Random(42)
    per_node: Counter[str] = Counter()
    chunks_seen: set[str] = set()
    rounds = 2000
    for _ in range(rounds):
        picked = pick_targets(files, nodes(*ids), 2, rng)
        assert len({t.node_id for t in picked}) == 2  # two different nodes a round
        per_node.update(t.node_id for t in picked)
        chunks_seen.update(t.chunk_id for t in picked)
    expected = rounds * 2 / len(ids)
    assert set(per_node) == set(ids)
    assert all(0.85 * expected < c < 1.15 * expected for c in per_node.values()), per_node
    assert chunks_seen == {c for c, _ in big + small}


def test_a_seeded_rng_picks_the_same_targets() -> None:
    files = [replicated("f1", [(cid(i), ["a", "b", "c"]) for i in range(50)])]
    first = pick_targets(files, nodes("a", "b", "c"), 4, random.Random(11))
    again = pick_targets(files, nodes("a", "b", "c"), 4, random.Random(11))
    assert first == again


def test_a_copy_written_off_since_the_pick_is_not_challenged() -> None:
    t = Target("f1", cid(1), 100, "a", ("b", "c"))
    moved = types_pb2.FileLocations(
        file_id="f1", chunks=[types_pb2.ChunkLocation(chunk_id=cid(1), node_ids=["a", "c"])]
    )
    gone = types_pb2.FileLocations(
        file_id="f1", chunks=[types_pb2.ChunkLocation(chunk_id=cid(1), node_ids=["b"])]
    )
    assert still_held(t, types_pb2.FileLocations(file_id="f1")) == t
    assert still_held(t, moved) == Target("f1", cid(1), 100, "a", ("c",))
    assert still_held(t, gone) is None
