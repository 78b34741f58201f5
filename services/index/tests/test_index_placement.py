"""Weighted rendezvous placement: deterministic, never a duplicate, an excluded or full node;
spreads copies over zones; biased by free space; moves ~1/(n+1) of chunks when a node joins."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from stratos.common.hashing import chunk_id
from stratos.index.placement import place, unit_hash
from stratos.index.registry import Candidate

GIB = 1 << 30


def nodes(n: int, zones: int = 1, free: int = GIB) -> list[Candidate]:
    return [Candidate(f"node-{i}", f"10.0.0.{i}:7200", f"zone-{i % zones}", free) for i in range(n)]


def ids(n: int, salt: str = "") -> list[str]:
    return [chunk_id(f"{salt}{i}".encode()) for i in range(n)]


candidate_lists = st.lists(
    st.builds(
        Candidate,
        node_id=st.text("abcdefgh0123456789-", min_size=1, max_size=8),
        address=st.just("127.0.0.1:1"),
        zone=st.sampled_from(["a", "b", "c", ""]),
        free_bytes=st.integers(-10, 10_000),
    ),
    max_size=12,
    unique_by=lambda c: c.node_id,
)


def test_unit_hash_is_strictly_inside_zero_one() -> None:
    values = [unit_hash(f"n{i}", cid) for i, cid in enumerate(ids(500))]
    assert all(0.0 < u < 1.0 for u in values)
    assert 0.4 < sum(values) / len(values) < 0.6


@settings(max_examples=200, deadline=None)
@given(
    candidate_lists,
    st.integers(0, 6),
    st.integers(0, 5),
    st.integers(0, 5000),
    st.binary(min_size=1, max_size=8),
    st.data(),
)
def test_placement_rules_hold_for_any_mesh(cands, replicas, extra, size, seed, data) -> None:
    cid = chunk_id(seed)
    exclude = data.draw(st.sets(st.sampled_from([c.node_id for c in cands] or ["x"])))
    chosen = place(cid, size, cands, replicas, exclude=exclude, extra=extra)

    assert chosen == place(cid, size, list(reversed(cands)), replicas, exclude=exclude, extra=extra)
    assert len({c.node_id for c in chosen}) == len(chosen), "a node was chosen twice"
    assert not {c.node_id for c in chosen} & exclude, "an excluded node was chosen"
    assert all(c.free_bytes >= size for c in chosen), "a node without room was chosen"
    eligible = [c for c in cands if c.node_id not in exclude and c.free_bytes >= size]
    assert len(chosen) == min(len(eligible), replicas + extra)
    targets = chosen[:replicas]
    zones_available = len({c.zone for c in eligible})
    assert len({c.zone for c in targets}) == min(len(targets), zones_available)


def test_full_node_is_skipped_and_excluded_node_never_chosen() -> None:
    cands = nodes(4)
    cands[0] = Candidate("node-0", "x:1", "zone-0", 100)  # 100 bytes free
    for cid in ids(200):
        chosen = {c.node_id for c in place(cid, 1000, cands, 2, exclude=["node-1"])}
        assert chosen == {"node-2", "node-3"}


def test_copies_spread_over_zones_when_there_are_enough() -> None:
    cands = nodes(9, zones=3)
    for cid in ids(300):
        targets = place(cid, 1, cands, 3)
        assert len({t.zone for t in targets}) == 3


def test_too_few_candidates_returns_what_exists() -> None:
    assert len(place(ids(1)[0], 1, nodes(2), 3)) == 2
    assert place(ids(1)[0], 1, [], 3) == []


def test_fallbacks_follow_targets_in_rank_order() -> None:
    cands = nodes(6)
    cid = ids(1)[0]
    assert place(cid, 1, cands, 2, extra=3)[:2] == place(cid, 1, cands, 2)
    assert place(cid, 1, cands, 2, extra=3) == place(cid, 1, cands, 5)


def test_node_with_four_times_the_free_space_gets_about_four_times_the_chunks() -> None:
    cands = [*nodes(3, free=GIB), Candidate("big", "x:1", "zone-0", 4 * GIB)]
    wins = Counter(place(cid, 1, cands, 1)[0].node_id for cid in ids(4000))
    small = sum(wins[f"node-{i}"] for i in range(3)) / 3
    # Expected: big wins 4/7 of 4000 ≈ 2286, each small 1/7 ≈ 571.
    assert 3.0 < wins["big"] / small < 5.2


def test_a_joining_node_takes_about_one_in_n_plus_one_first_choices() -> None:
    before = nodes(5)
    after = nodes(6)
    chunks = ids(6000, salt="join")
    moved = sum(
        place(c, 1, before, 1)[0].node_id != place(c, 1, after, 1)[0].node_id for c in chunks
    )
    fraction = moved / len(chunks)
    assert 0.8 / 6 <= fraction <= 1.25 / 6
    # And every moved chunk moved to the newcomer: nothing shuffles between old nodes.
    assert all(
        place(c, 1, after, 1)[0].node_id in (place(c, 1, before, 1)[0].node_id, "node-5")
        for c in chunks[:1000]
    )
