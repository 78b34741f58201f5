"""Choosing a job's executors (stratos.compute.placement): the workers whose node holds the
most input bytes, distinct, only live ones, ties spread across jobs."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratos.common.errors import FailedPrecondition
from stratos.compute.placement import Chunk, choose, held_bytes, locality

NODES = [f"storage-{i}" for i in range(1, 7)]


def test_the_nodes_holding_the_input_run_it() -> None:
    # the input on 3 of 6 nodes (r = 3 copies of every chunk)
    chunks = [Chunk(4 << 20, ("storage-2", "storage-4", "storage-6")) for _ in range(10)]
    chosen = choose(os.urandom(16), chunks, NODES, 3)
    assert sorted(chosen) == ["storage-2", "storage-4", "storage-6"]
    assert all(share == 1.0 for share in locality(chunks, chosen).values())


def test_more_bytes_rank_first_and_a_node_is_chosen_once() -> None:
    chunks = [
        Chunk(100, ("storage-1", "storage-2")),
        Chunk(100, ("storage-1", "storage-1")),  # a repeated holder counts once
        Chunk(50, ("storage-3",)),
    ]
    assert held_bytes(chunks) == {"storage-1": 200, "storage-2": 100, "storage-3": 50}
    assert choose(b"j", chunks, NODES, 3) == ["storage-1", "storage-2", "storage-3"]


def test_too_few_live_workers_is_refused_in_one_sentence() -> None:
    with pytest.raises(FailedPrecondition, match="asks for 3 executors and only 2 compute workers"):
        choose(b"j", [], ["storage-1", "storage-2"], 3)


def test_equal_nodes_share_the_jobs() -> None:
    picks = {choose(os.urandom(16), [], NODES, 1)[0] for _ in range(200)}
    assert len(picks) >= 5  # not always the first one


@given(
    st.lists(st.tuples(st.integers(1, 1000), st.sets(st.sampled_from(NODES), min_size=1))),
    st.sets(st.sampled_from(NODES), min_size=1),
    st.integers(1, 6),
)
def test_no_unchosen_worker_holds_more_than_a_chosen_one(raw, live, r) -> None:
    chunks = [Chunk(size, tuple(holders)) for size, holders in raw]
    if r > len(live):
        with pytest.raises(FailedPrecondition):
            choose(b"job", chunks, live, r)
        return
    chosen = choose(b"job", chunks, live, r)
    held = held_bytes(chunks)
    assert len(set(chosen)) == r and set(chosen) <= live
    least = min(held.get(n, 0) for n in chosen)
    assert all(held.get(n, 0) <= least for n in live - set(chosen))
