"""One chunk ID, several needs: the k+m shares of a 1+m segment (same bytes, same ID), a manifest
that repeats a chunk, two files sharing one. The planner must decide deletes per chunk over every
need naming it — never delete a copy some need counts, never the last copy of anything — and
health must count distinct holders per share."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from plan_support import cid, coded, mesh, one_plus, replicated

from stratos.index.pieces import assign_shares, holders, manifest_holders, naming
from stratos.index.registry import LIVE, LOST, SUSPECT
from stratos.index.repair_health import health
from stratos.index.repair_plan import COPY, DELETE, REENCODE, FileView, plan
from stratos.v1 import repair_pb2, types_pb2

# -- the defect: 1+m files were deleted two seconds after their put --------------------------------


def test_the_signed_holders_of_a_repeated_chunk_are_merged_not_overwritten() -> None:
    f = one_plus(2, ["n0", "n1", "n2"])
    assert manifest_holders(f.manifest) == {cid("one segment"): ["n0", "n1", "n2"]}


def test_a_settled_one_plus_m_file_gets_no_job_at_all() -> None:
    for m in (1, 2):
        f = one_plus(m, ["n0", "n1", "n2"])
        p = plan([f], mesh(4))
        assert p.jobs == [], f"1+{m}: {[(j.kind, j.target_node_id, j.reason) for j in p.jobs]}"
        assert not p.unrecoverable
        h = health([f], mesh(4), plan=p)
        assert h.healthy == 1 and h.bytes_to_repair == 0


def test_a_one_plus_two_file_that_lost_a_holder_is_copied_back_to_three_nodes() -> None:
    f = one_plus(2, ["n0", "n1", "n2"])
    nodes = mesh(4, n1=LOST)
    p = plan([f], nodes)
    assert [(j.kind, j.target_node_id) for j in p.jobs] == [(COPY, "n3")]
    assert {s.node_id for s in p.jobs[0].sources} == {"n0", "n2"}
    h = health([f], nodes, plan=p)
    assert h.files[0].state == "degraded" and h.bytes_to_repair == 116


def test_health_counts_distinct_holders_for_shares_with_one_chunk_id() -> None:
    """Three shares on one surviving node are one share, not three."""
    f = one_plus(2, ["n0", "n1", "n2"])
    nodes = mesh(3, n1=LOST, n2=LOST)
    h = health([f], nodes, plan=plan([f], nodes))
    assert h.files[0].state != "healthy" and not h.files[0].unreadable


def test_a_segment_repeated_in_a_manifest_keeps_every_copy_it_counts() -> None:
    c = cid("repeated")
    f = replicated(1, 3, [(c, ["n0", "n1", "n2"]), (c, ["n0", "n1", "n2"])])
    assert plan([f], mesh(3)).jobs == []
    assert [j for j in plan([f], mesh(5)).jobs if j.kind == DELETE] == []


def test_two_files_sharing_a_chunk_keep_the_larger_redundancy() -> None:
    c = cid("shared")
    small = replicated(1, 2, [(c, ["n0", "n1", "n2"])])
    big = replicated(2, 3, [(c, ["n0", "n1", "n2"])])
    assert plan([small, big], mesh(3)).jobs == []
    deletes = [j for j in plan([small], mesh(3)).jobs if j.kind == DELETE]
    assert len(deletes) == 1  # alone, the R=2 file has one extra copy


def test_a_coded_share_and_a_replicated_file_naming_one_chunk_both_stay_whole() -> None:
    """One copy may serve both needs: the R=2 file keeps two copies, the coded segment keeps
    its three shares on three distinct nodes, and only a copy neither counts goes."""
    c = cid("both")
    rep = replicated(1, 2, [(c, ["n0", "n1"])])
    cod = coded(2, 2, 1, [(c, ["n2"]), (cid("b"), ["n3"]), (cid("p"), ["n4"])])
    nodes = mesh(6)
    p = plan([rep, cod], nodes)
    assert [j.kind for j in p.jobs] == [DELETE]  # c is on three nodes; two needs use two
    where = {cid_: set(h) for cid_, h in holders(rep.manifest, None).items()}
    where |= {cid_: set(h) for cid_, h in holders(cod.manifest, None).items() if cid_ != c}
    where[c] = {"n0", "n1", "n2"} - {p.jobs[0].target_node_id}
    after = _views([rep, cod], where)
    assert [j for j in plan(after, nodes).jobs if j.kind == DELETE] == []
    h = health(after, nodes, plan=plan(after, nodes))
    assert h.healthy == 2


def test_a_node_holding_two_shares_chunks_counts_for_one_and_the_other_finds_another_holder():
    a, b = cid("a"), cid("b")
    # n0 holds both a and b; n1 holds a too: a must count on n1 so that b can count on n0.
    assert assign_shares([(0, ["n0", "n1"]), (1, ["n0"])]) == {0: "n1", 1: "n0"}
    f = coded(1, 1, 1, [(a, ["n0", "n1"]), (b, ["n0"])])
    p = plan([f], mesh(3))
    assert [(j.kind, j.chunk_id, j.target_node_id) for j in p.jobs] == [(DELETE, a, "n0")]


def test_no_live_copy_is_deleted_while_the_copy_kept_instead_is_on_a_suspect_node() -> None:
    a, b = cid("a"), cid("b")
    f = coded(1, 1, 1, [(a, ["n0", "n1"]), (b, ["n0"])])
    assert plan([f], mesh(3, n1=SUSPECT)).jobs == []


def test_results_reach_every_file_that_names_the_chunk() -> None:
    c = cid("shared")
    one = replicated(1, 2, [(c, ["n0", "n1"])])
    two = replicated(2, 2, [(c, ["n0", "n1"]), (cid("x"), ["n0", "n1"])])
    other = replicated(3, 2, [(cid("y"), ["n0", "n1"])])
    assert [m.file_id for m in naming([one.manifest, two.manifest, other.manifest], c)] == [
        one.manifest.file_id,
        two.manifest.file_id,
    ]


# -- the property: no plan deletes what a need counts, or the last copy of anything --------------


def _needs(files: list[FileView]):
    """(replicated: chunk → R), (coded groups: list of share chunk lists)."""
    rep: dict[str, int] = {}
    groups: list[list[str]] = []
    for f in files:
        for seg in f.manifest.segments:
            if seg.shares:
                groups.append([s.chunk_id for s in sorted(seg.shares, key=lambda s: s.index)])
            else:
                rep[seg.chunk_id] = max(rep.get(seg.chunk_id, 0), f.manifest.replicas)
    return rep, groups


def _counted(where, nodes, draining, cid_):
    return [
        n for n in where.get(cid_, ()) if nodes[n].state in (LIVE, SUSPECT) and n not in draining
    ]


def _served(where, nodes, draining, rep, groups):
    """What every need counts now: per replicated chunk min(R, counted), per coded group the
    size of its best share assignment."""
    out = {("r", c): min(r, len(_counted(where, nodes, draining, c))) for c, r in rep.items()}
    for i, group in enumerate(groups):
        owners = assign_shares(
            [(j, _counted(where, nodes, draining, c)) for j, c in enumerate(group)]
        )
        out[("g", i)] = len(owners)
    return out


def _views(files: list[FileView], where: dict[str, set[str]]) -> list[FileView]:
    """Each file's locations as perfect bookkeeping would record them."""
    out = []
    for f in files:
        locs = types_pb2.FileLocations(
            file_id=f.manifest.file_id,
            chunks=[
                types_pb2.ChunkLocation(chunk_id=c, node_ids=sorted(where.get(c, ())))
                for c in sorted(holders(f.manifest, None))
            ],
        )
        out.append(FileView(f.manifest, locs))
    return out


def _run(job: repair_pb2.RepairJob, where: dict[str, set[str]]) -> None:
    if job.kind == DELETE:
        where.get(job.chunk_id, set()).discard(job.target_node_id)
    elif job.kind in (COPY, REENCODE):
        where.setdefault(job.chunk_id, set()).add(job.target_node_id)


@st.composite
def meshes(draw):
    n = draw(st.integers(3, 7))
    pool = [cid(f"chunk{i}") for i in range(draw(st.integers(1, 4)))]
    node_ids = [f"n{i}" for i in range(n)]
    files: list[FileView] = []
    where: dict[str, set[str]] = {}
    for file_no in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            k = draw(st.integers(1, 2))
            m = draw(st.integers(1, 2))
            pieces = [draw(st.sampled_from(pool)) for _ in range(k + m)]
            shares = [(c, [node_ids[i % n]]) for i, c in enumerate(pieces)]
            files.append(coded(file_no, k, m, shares))
        else:
            r = draw(st.integers(1, 3))
            segs = [draw(st.sampled_from(pool)) for _ in range(draw(st.integers(1, 3)))]
            files.append(replicated(file_no, r, [(c, []) for c in segs]))
    for c in pool:
        where[c] = set(draw(st.lists(st.sampled_from(node_ids), min_size=1, max_size=n)))
    lost = draw(st.sets(st.sampled_from(node_ids), max_size=1))
    suspect = draw(st.sets(st.sampled_from(node_ids), max_size=1)) - lost
    draining = draw(st.sets(st.sampled_from(node_ids), max_size=1)) - lost
    states = {x: LOST for x in lost} | {x: SUSPECT for x in suspect}
    return files, where, mesh(n, draw(st.integers(1, 3)), **states), draining


def _without(where: dict[str, set[str]], jobs) -> dict[str, set[str]]:
    """The copies left once the DELETE jobs among `jobs` are done."""
    gone = {(j.chunk_id, j.target_node_id) for j in jobs if j.kind == DELETE}
    return {c: {n for n in h if (c, n) not in gone} for c, h in where.items()}


@settings(max_examples=300, deadline=None)
@given(meshes(), st.lists(st.booleans(), min_size=1, max_size=12))
def test_no_plan_deletes_a_copy_a_need_counts_or_the_last_copy(world, finishes) -> None:
    """Whatever repeats chunk IDs and whatever subset of jobs finishes each round, the deletes a
    round plans (on top of those still in flight, which it treats as done) never lower what any
    need counts and never remove a chunk's last live copy; and the mesh settles."""
    files, where, nodes, draining = world
    rep, groups = _needs(files)
    outstanding: list[repair_pb2.RepairJob] = []
    for step in range(40):
        now = _without(where, outstanding)
        before = _served(now, nodes, draining, rep, groups)
        alive = {c for c, h in now.items() if any(nodes[n].state == LIVE for n in h)}
        p = plan(_views(files, where), nodes, draining, outstanding)
        outstanding += [j for j in p.jobs if j not in outstanding]
        then = _without(where, outstanding)
        after = _served(then, nodes, draining, rep, groups)
        for need, count in before.items():
            assert after[need] >= count, f"a delete lowered {need}: {count} → {after[need]}"
        for c in alive:
            assert any(nodes[n].state == LIVE for n in then[c]), f"last live copy of {c} gone"
        finish = [j for i, j in enumerate(outstanding) if finishes[(i + step) % len(finishes)]]
        if step % 4 == 3:
            finish = list(outstanding)  # a timeout: everything is answered or re-planned
        for job in finish:
            _run(job, where)
        outstanding = [j for j in outstanding if j not in finish]
        if not outstanding and not plan(_views(files, where), nodes, draining).jobs:
            break
    else:
        raise AssertionError("repair did not settle")
