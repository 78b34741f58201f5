"""The node registry: states follow heartbeat age; an older heartbeat never replaces a newer."""

from __future__ import annotations

from index_support import heartbeat

from stratos.index.registry import LIVE, LOST, SUSPECT, Registry, node_state

T0 = 1_700_000_000_000


def test_node_goes_live_then_suspect_then_lost_as_time_passes() -> None:
    assert node_state(T0, T0, 6, 30) == LIVE
    assert node_state(T0, T0 + 5_999, 6, 30) == LIVE
    assert node_state(T0, T0 + 6_000, 6, 30) == SUSPECT
    assert node_state(T0, T0 + 29_999, 6, 30) == SUSPECT
    assert node_state(T0, T0 + 30_000, 6, 30) == LOST


def test_older_heartbeat_is_ignored() -> None:
    reg = Registry(6, 30)
    assert reg.observe(heartbeat("n1", used=500, sent_unix_ms=T0 + 1000))
    assert not reg.observe(heartbeat("n1", used=100, sent_unix_ms=T0))
    assert not reg.observe(heartbeat("n1", used=100, sent_unix_ms=T0 + 1000))
    rec = reg.get("n1")
    assert rec is not None and rec.info.used_bytes == 500 and rec.last_ms == T0 + 1000


def test_only_live_nodes_are_placement_candidates_but_all_are_listed() -> None:
    reg = Registry(6, 30)
    reg.observe(heartbeat("fresh", sent_unix_ms=T0, capacity=1000, used=400))
    reg.observe(heartbeat("quiet", sent_unix_ms=T0 - 10_000))
    reg.observe(heartbeat("gone", sent_unix_ms=T0 - 60_000))
    assert [c.node_id for c in reg.candidates(T0)] == ["fresh"]
    assert reg.candidates(T0)[0].free_bytes == 600
    states = {s.info.node_id: s.state for s in reg.statuses(T0)}
    assert states == {"fresh": LIVE, "quiet": SUSPECT, "gone": LOST}


def test_a_restarted_index_calls_a_node_lost_only_after_watching_it_for_the_whole_grace():
    """Heartbeats replayed at start may be older than the grace while the node is alive (its
    newest beat is not read yet): SUSPECT — no placements, no repair — not LOST, until the
    index itself has watched the grace go by."""
    reg = Registry(6, 30, watching_since_ms=T0)
    reg.observe(heartbeat("old", sent_unix_ms=T0 - 60_000))
    assert reg.statuses(T0)[0].state == SUSPECT
    assert reg.statuses(T0 + 29_000)[0].state == SUSPECT
    assert reg.statuses(T0 + 30_000)[0].state == LOST
    reg.observe(heartbeat("old", sent_unix_ms=T0 + 1_000))  # it was alive after all
    assert reg.statuses(T0 + 2_000)[0].state == LIVE


def test_a_new_heartbeat_brings_a_lost_node_back() -> None:
    reg = Registry(6, 30)
    reg.observe(heartbeat("n1", sent_unix_ms=T0))
    assert reg.statuses(T0 + 40_000)[0].state == LOST
    reg.observe(heartbeat("n1", sent_unix_ms=T0 + 39_000))
    assert reg.statuses(T0 + 40_000)[0].state == LIVE


def test_a_node_id_our_storage_nodes_could_not_have_is_never_registered() -> None:
    """Node IDs are printed by the CLI and named in manifests, whose size bound allows 64
    characters per node: a stranger's escape sequence or overlong ID is not a node."""
    reg = Registry(6, 30)
    for bad in ("", "evil\x1b[31m", "[red]x", "a.b", "n" * 65):
        assert not reg.observe(heartbeat(bad, sent_unix_ms=T0))
        assert reg.get(bad) is None
    assert reg.observe(heartbeat("n" * 64, sent_unix_ms=T0))
    assert len(reg) == 1
