"""Which nodes' changes make a repair round plan their files, and the paced sweep."""

from __future__ import annotations

from stratos.index.registry import LIVE, LOST, SUSPECT
from stratos.index.repair_scope import Sweep, node_changes

A = (LIVE, "10.0.0.1:7000", "z1", 100)
B = (LIVE, "10.0.0.2:7000", "z1", 100)


def test_nothing_changed_plans_nothing() -> None:
    assert node_changes({"a": A, "b": B}, {"a": A, "b": B}, {"b"}, {"b"}) == (set(), False)


def test_a_node_going_suspect_or_lost_plans_its_files_only() -> None:
    suspect = (SUSPECT, *A[1:])
    assert node_changes({"a": A, "b": B}, {"a": suspect, "b": B}, (), ()) == ({"a"}, False)
    lost = (LOST, *A[1:])
    assert node_changes({"a": suspect}, {"a": lost}, (), ()) == ({"a"}, False)
    assert node_changes({"a": A, "b": B}, {"b": B}, (), ()) == ({"a"}, False)  # forgotten


def test_a_drain_starting_or_ending_plans_the_drained_nodes_files() -> None:
    assert node_changes({"a": A}, {"a": A}, (), {"a"}) == ({"a"}, False)
    assert node_changes({"a": A}, {"a": A}, {"a"}, ()) == ({"a"}, False)


def test_a_node_entering_service_or_growing_calls_for_a_rebalancing_sweep() -> None:
    assert node_changes({"a": A}, {"a": A, "b": B}, (), ()) == ({"b"}, True)  # joined
    back = (SUSPECT, *B[1:])
    assert node_changes({"b": back}, {"b": B}, (), ()) == ({"b"}, True)  # came back
    bigger = (*B[:3], 200)
    assert node_changes({"b": B}, {"b": bigger}, (), ()) == ({"b"}, True)
    moved = (LIVE, "10.0.0.9:7000", "z1", 100)
    assert node_changes({"b": B}, {"b": moved}, (), ()) == ({"b"}, False)  # same node, new port


def test_the_sweep_hands_out_each_file_once_in_bounded_batches() -> None:
    sweep = Sweep()
    sweep.add(["c", "a", "b"])
    sweep.add(["b", "d"])  # b is already waiting: not twice
    assert len(sweep) == 4
    assert sweep.take(2) == ["a", "b"]
    assert sweep.take(5) == ["c", "d"]
    assert sweep.take(5) == [] and len(sweep) == 0
    sweep.add(["a"])  # once handed out, a file can be queued again
    assert sweep.take(1) == ["a"]
