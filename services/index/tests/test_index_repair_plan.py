"""The repair planner as a pure function: node loss, drain, rebalance, erasure-coded shares, and
the promise that retries never push a chunk over its redundancy target."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from stratos.index.locations import with_result
from stratos.index.pieces import holders
from stratos.index.registry import LIVE, LOST, SUSPECT
from stratos.index.repair_health import health
from stratos.index.repair_plan import (
    COPY,
    DELETE,
    REENCODE,
    FileView,
    NodeView,
    job_id,
    plan,
)
from stratos.v1 import repair_pb2, types_pb2

GIB = 1 << 30


def cid(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def mesh(n: int, zones: int = 1, **states: int) -> dict[str, NodeView]:
    nodes = {}
    for i in range(n):
        node_id = f"n{i}"
        nodes[node_id] = NodeView(
            node_id,
            f"10.0.0.{i}:7000",
            f"z{i % zones}",
            states.get(node_id, LIVE),
            10 * GIB,
            9 * GIB,
        )
    return nodes


def with_state(nodes: dict[str, NodeView], **states: int) -> dict[str, NodeView]:
    out = dict(nodes)
    for node_id, state in states.items():
        v = out[node_id]
        out[node_id] = NodeView(v.node_id, v.address, v.zone, state, v.capacity_bytes, v.free_bytes)
    return out


def replicated(file_no: int, chunks: int, replicas: int, nodes: dict[str, NodeView]) -> FileView:
    """A file whose chunks sit where the planner's own ranking puts them (a settled mesh)."""
    file_id = f"{file_no:032x}"
    segs = []
    for i in range(chunks):
        chunk = cid(f"{file_id}/{i}")
        segs.append(types_pb2.Segment(index=i, chunk_id=chunk, plain_size=100, stored_size=116))
    m = types_pb2.Manifest(file_id=file_id, replicas=replicas, segments=segs)
    settled = converge([FileView(m)], nodes, seed_empty=True)
    return settled[0]


def ec_file(nodes: list[str], k: int = 4, m_: int = 2) -> FileView:
    file_id = "e" * 32
    shares = [
        types_pb2.Share(index=i, chunk_id=cid(f"share{i}"), size=50, node_ids=[nodes[i]])
        for i in range(k + m_)
    ]
    seg = types_pb2.Segment(index=0, plain_size=184, stored_size=200, shares=shares)
    m = types_pb2.Manifest(
        file_id=file_id,
        replicas=1,
        segments=[seg],
        erasure=types_pb2.ErasureCode(data_shares=k, parity_shares=m_),
    )
    return FileView(m)


def execute(files: list[FileView], jobs: list[repair_pb2.RepairJob]) -> list[FileView]:
    """What storage nodes doing every job successfully, and the index recording it, amount to."""
    out = []
    for f in files:
        locs = f.locations or types_pb2.FileLocations(file_id=f.manifest.file_id)
        signed = {c: h for c, h in holders(f.manifest, None).items()}
        for job in jobs:
            if job.chunk_id not in signed:  # a result reaches every file naming its chunk
                continue
            result = repair_pb2.RepairResult(
                job_id=job.job_id,
                kind=job.kind,
                file_id=f.manifest.file_id,
                chunk_id=job.chunk_id,
                node_id=job.target_node_id,
                ok=True,
            )
            locs = with_result(locs, result, signed) or locs
        out.append(FileView(f.manifest, locs))
    return out


def converge(files, nodes, draining=(), seed_empty=False, rounds=20):
    """Plan and execute until nothing is left to do; fails if it never settles."""
    if seed_empty:  # every chunk starts on no node: the planner then picks its best nodes
        files = [
            FileView(f.manifest, types_pb2.FileLocations(file_id=f.manifest.file_id)) for f in files
        ]
        nodes = {**nodes, "seed": NodeView("seed", "x:1", "zs", LIVE, 1, 0)}
        files = [_on_seed(f) for f in files]
        draining = {*draining, "seed"}
    for _ in range(rounds):
        p = plan(files, nodes, draining)
        if not p.jobs:
            return [_off_seed(f) for f in files] if seed_empty else files
        files = execute(files, p.jobs)
    raise AssertionError("the plan did not settle")


def _on_seed(f: FileView) -> FileView:
    m = types_pb2.Manifest()
    m.CopyFrom(f.manifest)
    for seg in m.segments:
        seg.node_ids[:] = ["seed"]
    return FileView(m, None)


def _off_seed(f: FileView) -> FileView:
    """Rewrite the manifest as if the writer had put the chunks where they settled."""
    m = types_pb2.Manifest()
    m.CopyFrom(f.manifest)
    where = holders(f.manifest, f.locations)
    for seg in m.segments:
        seg.node_ids[:] = where[seg.chunk_id]
    return FileView(m, None)


def live_copies(f: FileView, nodes, chunk: str) -> list[str]:
    return [n for n in holders(f.manifest, f.locations)[chunk] if nodes[n].state == LIVE]


def test_a_settled_mesh_plans_nothing() -> None:
    nodes = mesh(5)
    files = [replicated(i, 10, 3, nodes) for i in range(3)]
    assert plan(files, nodes).jobs == []
    assert all(len(seg.node_ids) == 3 for f in files for seg in f.manifest.segments)


def test_a_lost_node_gets_each_of_its_chunks_copied_from_a_survivor() -> None:
    nodes = mesh(5)
    f = replicated(1, 40, 3, nodes)
    lost = with_state(nodes, n2=LOST)
    p = plan([f], lost)
    affected = {s.chunk_id for s in f.manifest.segments if "n2" in s.node_ids}
    assert affected and {j.chunk_id for j in p.jobs} == affected
    for job in p.jobs:
        seg = next(s for s in f.manifest.segments if s.chunk_id == job.chunk_id)
        assert job.kind == COPY and job.reason == "n2 lost" and job.size == 116
        assert job.target_node_id not in seg.node_ids and job.target_node_id != "n2"
        assert [s.node_id for s in job.sources] and all(
            s.node_id in seg.node_ids and s.node_id != "n2" for s in job.sources
        )
        assert job.sources[0].address == lost[job.sources[0].node_id].address
    healed = converge(execute([f], p.jobs), lost)
    assert all(len(live_copies(healed[0], lost, s.chunk_id)) == 3 for s in f.manifest.segments)


def test_a_suspect_node_is_not_repaired_during_the_grace() -> None:
    nodes = mesh(5)
    f = replicated(1, 20, 3, nodes)
    assert plan([f], with_state(nodes, n1=SUSPECT)).jobs == []


def test_two_lost_nodes_get_two_new_copies_where_both_held_the_chunk() -> None:
    nodes = mesh(6)
    f = replicated(1, 60, 3, nodes)
    lost = with_state(nodes, n0=LOST, n1=LOST)
    p = plan([f], lost)
    per_chunk = Counter(j.chunk_id for j in p.jobs)
    for seg in f.manifest.segments:
        gone = len({"n0", "n1"} & set(seg.node_ids))
        assert per_chunk.get(seg.chunk_id, 0) == gone
    both = [s for s in f.manifest.segments if {"n0", "n1"} <= set(s.node_ids)]
    assert both, "the test data should include chunks that lost two copies"
    for seg in both:
        targets = [j.target_node_id for j in p.jobs if j.chunk_id == seg.chunk_id]
        assert len(set(targets)) == 2


def test_a_chunk_with_no_copy_left_is_reported_not_planned() -> None:
    nodes = mesh(4)
    f = replicated(1, 30, 2, nodes)
    lost = with_state(nodes, n0=LOST, n1=LOST)
    p = plan([f], lost)
    dead = {s.chunk_id for s in f.manifest.segments if set(s.node_ids) == {"n0", "n1"}}
    assert dead
    assert {u.chunk_id for u in p.unrecoverable} == dead
    assert not dead & {j.chunk_id for j in p.jobs}
    assert all("n0, n1 lost" in u.reason for u in p.unrecoverable)


def test_outstanding_copies_are_not_planned_again() -> None:
    nodes = with_state(mesh(5), n3=LOST)
    f = replicated(1, 30, 3, mesh(5))
    first = plan([f], nodes)
    assert first.jobs
    again = plan([f], nodes, outstanding=first.jobs)
    assert again.jobs == []
    # A copy in flight to a node that has since been lost no longer counts.
    dead_target = first.jobs[0].target_node_id
    later = plan([f], with_state(nodes, **{dead_target: LOST}), outstanding=first.jobs)
    assert first.jobs[0].chunk_id in {j.chunk_id for j in later.jobs}


def test_job_ids_are_deterministic_and_say_what_the_job_does() -> None:
    nodes = with_state(mesh(5), n1=LOST)
    f = replicated(1, 10, 2, mesh(5))
    a, b = plan([f], nodes, now_ms=1), plan([f], nodes, now_ms=2)
    assert [j.job_id for j in a.jobs] == [j.job_id for j in b.jobs]
    for j in a.jobs:
        assert j.job_id == job_id(j.kind, j.chunk_id, j.target_node_id)
    assert job_id(COPY, "c", "n1") != job_id(DELETE, "c", "n1") != job_id(COPY, "c", "n2")
    assert len(job_id(COPY, "c", "n1")) == 32


def test_a_returning_node_loses_only_the_extra_copies_and_only_after_repair() -> None:
    nodes = mesh(5)
    f = replicated(1, 40, 2, nodes)
    lost = with_state(nodes, n4=LOST)
    repairs = plan([f], lost).jobs
    assert repairs
    # The node comes back before the copies land: nothing is deleted while copies are in flight.
    assert plan([f], nodes, outstanding=repairs).jobs == []
    repaired = execute([f], repairs)
    cleanup = plan(repaired, nodes)
    assert cleanup.jobs and all(j.kind == DELETE and j.reason == "extra copy" for j in cleanup.jobs)
    assert {j.chunk_id for j in cleanup.jobs} == {j.chunk_id for j in repairs}
    settled = converge(execute(repaired, cleanup.jobs), nodes)
    for seg in f.manifest.segments:
        assert len(live_copies(settled[0], nodes, seg.chunk_id)) == 2


def test_drain_copies_first_and_deletes_from_the_drained_node_only_after() -> None:
    nodes = mesh(5)
    f = replicated(1, 40, 2, nodes)
    p = plan([f], nodes, draining={"n0"})
    on_n0 = {s.chunk_id for s in f.manifest.segments if "n0" in s.node_ids}
    assert {j.chunk_id for j in p.jobs} == on_n0
    assert all(j.kind == COPY and j.reason == "drain n0" for j in p.jobs)
    assert all(j.target_node_id != "n0" for j in p.jobs)
    assert any(s.node_id == "n0" for j in p.jobs for s in j.sources)
    assert plan([f], nodes, {"n0"}, outstanding=p.jobs).jobs == []
    copied = execute([f], p.jobs)
    deletes = plan(copied, nodes, {"n0"}).jobs
    assert {(j.kind, j.target_node_id) for j in deletes} == {(DELETE, "n0")}
    done = converge(execute(copied, deletes), nodes, {"n0"})
    assert health(done, nodes).node_chunks.get("n0", 0) == 0
    for seg in f.manifest.segments:
        assert len(live_copies(done[0], nodes, seg.chunk_id)) == 2


def test_drain_with_nowhere_to_go_is_stuck_not_deleted() -> None:
    nodes = mesh(2)
    f = replicated(1, 5, 2, nodes)
    p = plan([f], nodes, draining={"n1"})
    assert p.jobs == [] and len(p.stuck) == 5


def test_a_joining_node_moves_about_one_in_n_plus_one_copies() -> None:
    five = mesh(5)
    files = [replicated(i, 100, 2, five) for i in range(4)]
    six = mesh(6)
    p = plan(files, six)
    assert all(j.kind == COPY and j.reason == "rebalance" for j in p.jobs)
    assert {j.target_node_id for j in p.jobs} == {"n5"}
    copies = sum(len(s.node_ids) for f in files for s in f.manifest.segments)
    moved = len(p.jobs) / copies
    assert 0.12 < moved < 0.22, moved  # optimal 1/6 ≈ 0.167
    moved_files = execute(files, p.jobs)
    deletes = plan(moved_files, six).jobs
    assert len(deletes) == len(p.jobs) and all(j.kind == DELETE for j in deletes)
    settled = converge(execute(moved_files, deletes), six)
    assert plan(settled, six).jobs == []
    counts = health(settled, six).node_chunks
    assert sum(counts.values()) == copies and counts["n5"] == len(p.jobs)


def test_new_copies_go_to_a_zone_that_has_none_yet() -> None:
    nodes = mesh(6, zones=3)
    f = replicated(1, 40, 3, nodes)
    for seg in f.manifest.segments:
        assert len({nodes[n].zone for n in seg.node_ids}) == 3
    lost = with_state(nodes, n0=LOST)
    jobs = plan([f], lost).jobs
    assert jobs
    for job in jobs:
        assert lost[job.target_node_id].zone == "z0"  # n3, the other node of n0's zone


def test_a_failed_target_is_avoided_for_a_while() -> None:
    nodes = with_state(mesh(5), n0=LOST)
    f = replicated(1, 5, 2, mesh(5))
    first = plan([f], nodes).jobs[0]
    avoid = {(first.chunk_id, first.target_node_id)}
    retry = [j for j in plan([f], nodes, avoid=avoid).jobs if j.chunk_id == first.chunk_id]
    assert retry and retry[0].target_node_id != first.target_node_id


def test_a_node_the_ledger_suspended_gets_no_new_copy_but_keeps_its_own() -> None:
    nodes = with_state(mesh(5), n0=LOST)
    f = replicated(1, 30, 3, mesh(5))
    first = plan([f], nodes).jobs
    targets = {j.target_node_id for j in first}
    assert targets  # n0's chunks get new copies somewhere
    banned = sorted(targets)[0]
    views = {n: dataclasses.replace(v, takes_new=n != banned) for n, v in nodes.items()}
    jobs = plan([f], views).jobs
    assert jobs and all(j.target_node_id != banned for j in jobs)
    # its own copies still count: none is deleted or moved away
    assert not [j for j in jobs if j.kind == DELETE]


def test_a_lost_share_is_reencoded_from_the_others_onto_a_fresh_node() -> None:
    nodes = mesh(8)
    f = ec_file([f"n{i}" for i in range(6)])
    lost = with_state(nodes, n2=LOST)
    p = plan([f], lost)
    assert len(p.jobs) == 1
    job = p.jobs[0]
    assert job.kind == REENCODE and job.share_index == 2 and job.target_node_id in {"n6", "n7"}
    assert (job.erasure.data_shares, job.erasure.parity_shares) == (4, 2)
    assert job.segment_stored_size == 200 and job.size == 50
    assert sorted(s.index for s in job.shares) == [0, 1, 3, 4, 5]
    assert all(s.holders[0].node_id == f"n{s.index}" for s in job.shares)
    healed = execute([f], p.jobs)
    assert plan(healed, lost).jobs == []


def test_two_lost_shares_are_rebuilt_on_two_different_nodes() -> None:
    nodes = mesh(8)
    f = ec_file([f"n{i}" for i in range(6)])
    p = plan([f], with_state(nodes, n0=LOST, n5=LOST))
    assert sorted(j.share_index for j in p.jobs) == [0, 5]
    assert {j.target_node_id for j in p.jobs} == {"n6", "n7"}


def test_a_segment_with_fewer_than_k_shares_left_is_unrecoverable() -> None:
    nodes = mesh(8)
    f = ec_file([f"n{i}" for i in range(6)])
    p = plan([f], with_state(nodes, n0=LOST, n1=LOST, n2=LOST))
    assert p.jobs == [] and p.unrecoverable
    assert "only 3 of 4 needed shares left" in p.unrecoverable[0].reason


def test_a_share_on_a_draining_node_is_copied_then_deleted() -> None:
    nodes = mesh(7)
    f = ec_file([f"n{i}" for i in range(6)])
    p = plan([f], nodes, draining={"n1"})
    assert [(j.kind, j.share_index, j.target_node_id) for j in p.jobs] == [(COPY, 0, "n6")]
    assert p.jobs[0].sources[0].node_id == "n1"
    moved = execute([f], p.jobs)
    assert [(j.kind, j.target_node_id) for j in plan(moved, nodes, {"n1"}).jobs] == [(DELETE, "n1")]


def test_health_counts_files_by_state_and_bytes_left_to_repair() -> None:
    nodes = mesh(5)
    a, b, c = (replicated(i, 10, 2, nodes) for i in range(3))
    lost = with_state(nodes, n1=LOST)
    jobs = plan([b], lost).jobs
    h = health([a, b, c], lost, outstanding=jobs)
    expected = {
        f.manifest.file_id: 116 * sum("n1" in s.node_ids for s in f.manifest.segments)
        for f in (a, b, c)
    }
    assert {fh.file_id: fh.bytes_to_repair for fh in h.files} == expected
    states = {fh.file_id: fh.state for fh in h.files}
    assert states[b.manifest.file_id] == "repairing"
    for f in (a, c):
        want = "degraded" if expected[f.manifest.file_id] else "healthy"
        assert states[f.manifest.file_id] == want
    assert h.bytes_to_repair == sum(expected.values())
    assert (h.healthy, h.degraded, h.repairing) == (
        sum(1 for v in states.values() if v == "healthy"),
        sum(1 for v in states.values() if v == "degraded"),
        1,
    )
    assert sum(h.node_chunks.values()) == 60 and not any(fh.unreadable for fh in h.files)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(4, 8),
    zones=st.integers(1, 3),
    replicas=st.integers(1, 3),
    lose=st.sets(st.integers(0, 7), max_size=2),
    drain=st.sets(st.integers(0, 7), max_size=1),
    done=st.lists(st.booleans(), min_size=1, max_size=30),
)
def test_repair_under_partial_progress_never_exceeds_the_target(
    n, zones, replicas, lose, drain, done
) -> None:
    """Whatever subset of jobs finishes each round (the rest stay outstanding, then time out),
    a chunk never has more than its target copies plus one moving, and the mesh settles."""
    nodes = mesh(n, zones)
    files = [replicated(i, 8, replicas, nodes) for i in range(2)]
    lost_ids = {f"n{i}" for i in lose if i < n}
    # fewer than R copies lost, and R live nodes left to hold them
    lost_ids = set(sorted(lost_ids)[: max(0, min(replicas - 1, n - replicas))])
    nodes = with_state(nodes, **{x: LOST for x in lost_ids})
    draining = {f"n{i}" for i in drain if i < n} - lost_ids
    if n - len(lost_ids) - len(draining) < replicas:
        draining = set()
    outstanding: list[repair_pb2.RepairJob] = []
    for step in range(60):
        p = plan(files, nodes, draining, outstanding)
        outstanding += p.jobs
        assert not p.unrecoverable
        finish = [j for i, j in enumerate(outstanding) if done[(i + step) % len(done)]]
        if step % 5 == 4:
            finish = list(outstanding)  # a timeout: the rest are answered (or re-planned)
        files = execute(files, finish)
        outstanding = [j for j in outstanding if j not in finish]
        for f in files:
            where = holders(f.manifest, f.locations)
            for seg in f.manifest.segments:
                live = [h for h in where[seg.chunk_id] if nodes[h].state == LIVE]
                inflight = {
                    j.target_node_id
                    for j in outstanding
                    if j.chunk_id == seg.chunk_id and j.kind == COPY
                }
                assert len(set(live) | inflight) <= replicas + 1
        if not outstanding and not plan(files, nodes, draining).jobs:
            break
    else:
        raise AssertionError("repair did not settle")
    for f in files:
        where = holders(f.manifest, f.locations)
        for seg in f.manifest.segments:
            live = [h for h in where[seg.chunk_id] if nodes[h].state == LIVE]
            assert len(live) == replicas and not set(live) & draining
