"""What `stratos stat` shows, as pure functions: the nodes holding each piece now (the index's
locations over the manifest's upload-time list), each with its state from the registry and the
drains, written-off copies only while they explain a shortfall — and the table and JSON built
from that one view."""

from __future__ import annotations

import io
import json

from rich.console import Console

from stratos.sdk import holdings, render
from stratos.sdk.file_names import ListedFile
from stratos.v1 import types_pb2

FILE_ID = "ab" * 16
C0, C1 = "c0" * 32, "c1" * 32
S0, S1, S2 = "50" * 32, "51" * 32, "52" * 32
LIVE, SUSPECT, LOST = (
    types_pb2.NODE_STATE_LIVE,
    types_pb2.NODE_STATE_SUSPECT,
    types_pb2.NODE_STATE_LOST,
)


def status(node_id: str, state: int = LIVE, draining: bool = False) -> types_pb2.NodeStatus:
    return types_pb2.NodeStatus(
        info=types_pb2.NodeInfo(node_id=node_id), state=state, draining=draining
    )


def statuses(*nodes: types_pb2.NodeStatus) -> dict[str, types_pb2.NodeStatus]:
    return {n.info.node_id: n for n in nodes}


def replicated(*node_ids: str, replicas: int = 3) -> types_pb2.Manifest:
    """One 4 MiB segment written to `node_ids`."""
    return types_pb2.Manifest(
        file_id=FILE_ID,
        replicas=replicas,
        segment_size=4 << 20,
        segments=[
            types_pb2.Segment(
                index=0,
                chunk_id=C0,
                plain_size=4 << 20,
                stored_size=(4 << 20) + 16,
                node_ids=list(node_ids),
            )
        ],
    )


def coded() -> types_pb2.Manifest:
    """One 2+1 coded segment: share i on n<i>."""
    return types_pb2.Manifest(
        file_id=FILE_ID,
        replicas=1,
        segment_size=64,
        erasure=types_pb2.ErasureCode(data_shares=2, parity_shares=1),
        segments=[
            types_pb2.Segment(
                index=0,
                plain_size=64,
                stored_size=80,
                shares=[
                    types_pb2.Share(index=i, chunk_id=c, size=40, node_ids=[f"n{i}"])
                    for i, c in enumerate((S0, S1, S2))
                ],
            )
        ],
    )


def located(**chunks: list[str]) -> types_pb2.FileLocations:
    names = {"c0": C0, "c1": C1, "s0": S0, "s1": S1, "s2": S2}
    return types_pb2.FileLocations(
        file_id=FILE_ID,
        chunks=[types_pb2.ChunkLocation(chunk_id=names[k], node_ids=v) for k, v in chunks.items()],
    )


def held(view: holdings.SegmentView) -> list[dict[str, str]]:
    return [{h.node_id: h.state for h in p.holders} for p in view.pieces]


def text(renderable) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


# -- replicated segments -------------------------------------------------------------------------


def test_without_locations_the_holders_are_the_nodes_the_upload_wrote_to():
    [view] = holdings.segment_views(
        replicated("n1", "n2", "n3"), None, statuses(*(status(n) for n in ("n1", "n2", "n3")))
    )
    assert held(view) == [{"n1": "LIVE", "n2": "LIVE", "n3": "LIVE"}]
    assert (view.live, view.target, view.chunk_id, view.coded) == (3, 3, C0, False)


def test_after_a_repair_the_new_copy_is_shown_and_the_lost_node_is_not():
    nodes = statuses(status("n1"), status("n2", LOST), status("n3"), status("n4"))
    [view] = holdings.segment_views(
        replicated("n1", "n2", "n3"), located(c0=["n1", "n2", "n3", "n4"]), nodes
    )
    assert held(view) == [{"n1": "LIVE", "n3": "LIVE", "n4": "LIVE"}]
    assert (view.live, view.target) == (3, 3)


def test_before_the_repair_the_lost_copy_is_shown_as_lost_it_is_why_a_copy_is_missing():
    nodes = statuses(status("n1"), status("n2", LOST), status("n3"))
    [view] = holdings.segment_views(replicated("n1", "n2", "n3"), None, nodes)
    assert held(view) == [{"n1": "LIVE", "n2": "LOST", "n3": "LIVE"}]
    assert (view.live, view.reachable, view.needed) == (2, 2, 1)


def test_after_a_drain_the_drained_node_is_not_shown():
    nodes = statuses(status("n1"), status("n2", draining=True), status("n3"), status("n4"))
    [view] = holdings.segment_views(
        replicated("n1", "n2", "n3"), located(c0=["n1", "n3", "n4"]), nodes
    )
    assert held(view) == [{"n1": "LIVE", "n3": "LIVE", "n4": "LIVE"}]


def test_during_a_drain_the_node_is_draining_and_its_copy_is_not_counted_live():
    nodes = statuses(status("n1"), status("n2", draining=True), status("n3"))
    [view] = holdings.segment_views(replicated("n1", "n2", "n3"), None, nodes)
    assert held(view) == [{"n1": "LIVE", "n2": "DRAINING", "n3": "LIVE"}]
    assert (view.live, view.reachable) == (2, 3)


def test_states_come_from_the_registry_and_drains_or_are_unknown():
    nodes = statuses(
        status("live"),
        status("suspect", SUSPECT),
        status("lost", LOST),
        status("draining", draining=True),
        status("lost-and-draining", LOST, draining=True),
    )
    names = ["live", "suspect", "lost", "draining", "lost-and-draining", "forgotten"]
    assert [holdings.node_state(n, nodes) for n in names] == [
        "LIVE",
        "SUSPECT",
        "LOST",
        "DRAINING",
        "LOST",
        "UNKNOWN",
    ]


def test_an_empty_locations_entry_means_nobody_holds_the_chunk():
    [view] = holdings.segment_views(replicated("n1", "n2"), located(c0=[]), statuses(status("n1")))
    assert held(view) == [{}]
    assert (view.live, view.reachable) == (0, 0)


def test_a_chunk_the_locations_do_not_list_stays_where_the_manifest_says():
    nodes = statuses(*(status(n) for n in ("n1", "n2", "n3", "n9")))
    [view] = holdings.segment_views(replicated("n1", "n2", "n3"), located(c1=["n9"]), nodes)
    assert held(view) == [{"n1": "LIVE", "n2": "LIVE", "n3": "LIVE"}]


def test_written_off_copies_are_shown_only_while_the_piece_is_short():
    lost = holdings.Holder("n2", "LOST")
    gone = holdings.Holder("n5", "UNKNOWN")
    others = [holdings.Holder(n, "LIVE") for n in ("n1", "n3")]
    assert holdings.shown([*others, lost, gone], 3) == (*others, lost, gone)
    more = [*others, holdings.Holder("n4", "SUSPECT")]
    assert holdings.shown([*more, lost, gone], 3) == tuple(more)
    leaving = [*others, holdings.Holder("n4", "DRAINING")]  # its copy does not count
    assert holdings.shown([*leaving, lost], 3) == (*leaving, lost)


# -- erasure-coded shares ------------------------------------------------------------------------


def test_a_re_encoded_share_shows_its_new_holder_not_the_lost_one():
    nodes = statuses(status("n0"), status("n1", LOST), status("n2"), status("n3"))
    [view] = holdings.segment_views(coded(), located(s1=["n1", "n3"]), nodes)
    assert held(view) == [{"n0": "LIVE"}, {"n3": "LIVE"}, {"n2": "LIVE"}]
    assert [p.share for p in view.pieces] == [0, 1, 2]
    assert (view.live, view.target, view.needed, view.coded, view.chunk_id) == (3, 3, 2, True, "")


def test_a_share_whose_only_holder_is_lost_shows_it_lost():
    nodes = statuses(status("n0"), status("n1", LOST), status("n2"))
    [view] = holdings.segment_views(coded(), None, nodes)
    assert held(view) == [{"n0": "LIVE"}, {"n1": "LOST"}, {"n2": "LIVE"}]
    assert (view.live, view.reachable) == (2, 2)


def test_shares_with_the_same_bytes_keep_their_own_holders():
    """Identical shares (a 1+1 code, or all-zero data) have one chunk ID; a share the index
    did not move is on the node the manifest names for it, not on its twin's."""
    man = coded()
    for share in man.segments[0].shares:
        share.chunk_id = S0
    [view] = holdings.segment_views(man, None, statuses(*(status(f"n{i}") for i in range(3))))
    assert held(view) == [{"n0": "LIVE"}, {"n1": "LIVE"}, {"n2": "LIVE"}]


# -- the table and the JSON ----------------------------------------------------------------------


def test_the_table_and_the_json_show_the_same_current_holders():
    nodes = statuses(status("n1"), status("n2", LOST), status("n3"), status("n4", draining=True))
    man = replicated("n1", "n2", "n3")
    views = holdings.segment_views(man, located(c0=["n1", "n2", "n3", "n4"]), nodes)
    table = text(render.segments_table(views))
    assert "n1 LIVE, n2 LOST, n3 LIVE, n4 DRAINING" in table and "2/3" in table
    summary = ListedFile(types_pb2.FileSummary(file_id=FILE_ID, replicas=3, segments=1), "f")
    doc = render.stat_dict(summary, man, views)
    [seg] = doc["segments"]
    assert seg["nodes"] == {"n1": "LIVE", "n2": "LOST", "n3": "LIVE", "n4": "DRAINING"}
    assert (seg["live"], seg["target"], seg["chunk_id"]) == (2, 3, C0)
    json.dumps(doc)


def test_the_coded_table_and_json_name_each_share_with_its_holder():
    nodes = statuses(status("n0"), status("n1", LOST), status("n2"), status("n3"))
    views = holdings.segment_views(coded(), located(s1=["n1", "n3"]), nodes)
    table = text(render.segments_table(views))
    assert "0:n0 LIVE, 1:n3 LIVE, 2:n2 LIVE" in table and "3/3" in table and "n1" not in table
    summary = ListedFile(types_pb2.FileSummary(file_id=FILE_ID, replicas=1, segments=1), "f")
    [seg] = render.stat_dict(summary, coded(), views)["segments"]
    assert seg["nodes"] == {} and seg["chunk_id"] == ""
    assert [(s["index"], s["chunk_id"], s["nodes"]) for s in seg["shares"]] == [
        (0, S0, {"n0": "LIVE"}),
        (1, S1, {"n3": "LIVE"}),
        (2, S2, {"n2": "LIVE"}),
    ]
