"""Drain rules as pure functions: refused when the rest of the mesh cannot hold every file's
redundancy or bytes, accepted otherwise; what is left on a node follows the locations."""

from __future__ import annotations

from stratos.index.drain_rules import copies_needed, node_load, refusal
from stratos.index.registry import LIVE, LOST
from stratos.index.repair_plan import FileView, NodeView
from stratos.v1 import types_pb2

GIB = 1 << 30


def nodes(n: int, free: int = 9 * GIB, **states: int) -> dict[str, NodeView]:
    return {
        f"n{i}": NodeView(
            f"n{i}", f"127.0.0.1:{7000 + i}", "z", states.get(f"n{i}", LIVE), 10 * GIB, free
        )
        for i in range(n)
    }


def replicated(file_id: str, holders: list[list[str]], size: int = 1000, r: int = 3) -> FileView:
    segs = [
        types_pb2.Segment(index=i, chunk_id=f"{file_id}-{i}", stored_size=size, node_ids=h)
        for i, h in enumerate(holders)
    ]
    return FileView(types_pb2.Manifest(file_id=file_id, replicas=r, segments=segs))


def test_a_node_can_be_drained_when_the_others_hold_the_target() -> None:
    files = [replicated("f1", [["n0", "n1", "n2"], ["n1", "n2", "n3"]])]
    assert refusal(files, nodes(4), "n0", set()) is None
    assert node_load(files, "n0").chunks == 1 and node_load(files, "n1").chunks == 2
    assert node_load(files, "n1").bytes == 2000


def test_draining_below_the_redundancy_target_is_refused_with_the_reason() -> None:
    files = [replicated("f1", [["n0", "n1", "n2"]])]
    why = refusal(files, nodes(3), "n0", set())
    assert why is not None
    assert "would leave 2 live storage nodes" in why and "needs 3 distinct nodes" in why


def test_lost_and_draining_nodes_do_not_count_as_room() -> None:
    files = [replicated("f1", [["n0", "n1", "n2"]])]
    assert refusal(files, nodes(4, n3=LOST), "n0", set()) is not None
    assert refusal(files, nodes(5), "n0", {"n4"}) is None
    assert refusal(files, nodes(4), "n0", {"n3"}) is not None


def test_not_enough_free_bytes_is_refused() -> None:
    files = [replicated("f1", [["n0", "n1", "n2"]], size=5 * GIB)]
    why = refusal(files, nodes(4, free=GIB), "n0", set())
    assert why is not None and "add capacity first" in why


def test_an_unknown_node_is_refused() -> None:
    assert (
        refusal([], nodes(3), "storage-9", set())
        == "no storage node storage-9 is known to the index"
    )


def test_an_empty_node_drains_even_on_a_small_mesh() -> None:
    files = [replicated("f1", [["n1", "n2", "n3"]])]
    assert refusal(files, nodes(4), "n0", set()) is None


def test_erasure_coded_files_need_k_plus_m_nodes() -> None:
    shares = [
        types_pb2.Share(index=i, chunk_id=f"s{i}", size=10, node_ids=[f"n{i}"]) for i in range(6)
    ]
    m = types_pb2.Manifest(
        file_id="ec",
        replicas=1,
        erasure=types_pb2.ErasureCode(data_shares=4, parity_shares=2),
        segments=[types_pb2.Segment(index=0, shares=shares)],
    )
    assert copies_needed(m) == 6
    assert refusal([FileView(m)], nodes(6), "n0", set()) is not None
    assert refusal([FileView(m)], nodes(7), "n0", set()) is None
    assert node_load([FileView(m)], "n0").bytes == 10
