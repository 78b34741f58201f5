"""What `stratos health` reports, as data: every missing byte is to repair, stuck or lost (never
two of them), each file is in exactly one state, and the ETA is a number or a reason."""

from __future__ import annotations

from plan_support import cid, coded, mesh, one_plus, replicated

from stratos.index.registry import LOST, SUSPECT
from stratos.index.repair_health import check_files, eta, health
from stratos.index.repair_plan import plan


def _health(files, nodes, outstanding=()):
    return health(files, nodes, outstanding, plan(files, nodes, (), outstanding))


def test_a_copy_no_node_can_take_is_stuck_with_the_reason_not_to_repair() -> None:
    f = replicated(1, 3, [(cid("a"), ["n0", "n1", "n2"])])
    h = _health([f], mesh(3, n2=LOST))
    assert (h.bytes_to_repair, h.bytes_stuck, h.bytes_lost) == (0, 116, 0)
    assert [(g.reason, g.chunks, g.bytes) for g in h.stuck] == [
        ("needs 3 distinct live storage nodes, 2 available", 1, 116)
    ]
    assert h.files[0].state == "degraded"
    assert eta(h, 0.0, 0) == (0.0, f"never, until the mesh changes: {h.stuck[0].reason}")


def test_an_unreadable_file_is_lost_not_to_repair_and_says_why() -> None:
    gone = replicated(1, 1, [(cid("a"), ["n0"])])
    fine = replicated(2, 2, [(cid("b"), ["n1", "n2"])])
    h = _health([gone, fine], mesh(3, n0=LOST))
    assert (h.unrecoverable, h.healthy, h.degraded) == (1, 1, 0)
    assert (h.bytes_to_repair, h.bytes_stuck, h.bytes_lost) == (0, 0, 116)
    assert h.files[0].reason == "no live copy left (n0 lost)"
    assert eta(h, 0.0, 0) == (0.0, "")  # nothing that can be repaired is left


def test_a_coded_segment_below_k_shares_is_lost() -> None:
    f = coded(1, 2, 1, [(cid("a"), ["n0"]), (cid("b"), ["n1"]), (cid("p"), ["n2"])])
    h = _health([f], mesh(4, n0=LOST, n1=LOST))
    assert h.unrecoverable == 1 and h.bytes_to_repair == 0 and h.bytes_lost == 2 * 58


def test_repair_waiting_for_a_suspect_node_says_so() -> None:
    f = replicated(1, 2, [(cid("a"), ["n0", "n1"])])
    h = _health([f], mesh(3, n1=SUSPECT))
    assert h.bytes_to_repair == 116 and h.waiting_on == ["n1"]
    seconds, why = eta(h, 0.0, 0)
    assert seconds == 0 and why.startswith("waiting for n1 (suspect)")


def test_eta_is_bytes_over_rate_and_otherwise_names_what_it_waits_for() -> None:
    f = replicated(1, 2, [(cid("a"), ["n0", "n1"])])
    nodes = mesh(3, n1=LOST)
    p = plan([f], nodes)
    h = health([f], nodes, p.jobs, p)
    assert h.files[0].state == "repairing"
    assert eta(h, 58.0, len(p.jobs)) == (2.0, "")
    assert eta(h, 0.0, len(p.jobs)) == (0.0, "repair jobs are queued and no copy has finished yet")


def test_states_partition_the_files() -> None:
    files = [
        one_plus(2, ["n0", "n1", "n2"]),
        replicated(2, 1, [(cid("x"), ["n3"])]),
        replicated(3, 2, [(cid("y"), ["n0", "n3"])]),
        replicated(4, 2, [(cid("z"), ["n0", "n1"])]),
    ]
    h = _health(files, mesh(5, n3=LOST))
    assert h.healthy + h.degraded + h.repairing + h.unrecoverable == len(files)
    assert [fh.state for fh in h.files] == ["healthy", "unrecoverable", "degraded", "healthy"]


def test_a_file_short_only_of_copies_on_suspect_nodes_only_waits() -> None:
    waits = replicated(1, 2, [(cid("a"), ["n0", "n1"])])  # n1 suspect: nothing to do yet
    lost = replicated(2, 2, [(cid("b"), ["n1", "n2"])])  # n2 lost: a copy is owed now
    fine = replicated(3, 2, [(cid("c"), ["n0", "n3"])])
    nodes = mesh(4, n1=SUSPECT, n2=LOST)
    checks = {c.health.file_id: c for c in check_files([waits, lost, fine], nodes)}
    assert checks[waits.manifest.file_id].only_waiting
    assert checks[waits.manifest.file_id].waiting == {"n1"}
    assert not checks[lost.manifest.file_id].only_waiting  # its shortness is not all waiting
    assert not checks[fine.manifest.file_id].only_waiting  # healthy: waits on nothing


def test_a_coded_segment_only_waits_when_each_missing_share_is_on_a_suspect_node() -> None:
    f = coded(1, 2, 1, [(cid("a"), ["n0"]), (cid("b"), ["n1"]), (cid("p"), ["n2"])])
    (waits,) = check_files([f], mesh(4, n1=SUSPECT))
    assert waits.only_waiting and waits.waiting == {"n1"}
    (owed,) = check_files([f], mesh(4, n1=SUSPECT, n2=LOST))  # the parity share is gone
    assert not owed.only_waiting
