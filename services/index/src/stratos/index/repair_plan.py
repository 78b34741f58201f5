"""Repair, drain and rebalance decided as data: manifests with their current locations, the
node registry, the draining nodes and the jobs already in flight in; the RepairJobs that bring
every chunk back to its redundancy target out. Pure — no clock, no I/O — so every rule below is
unit-tested directly, and any index replica planning from the same inputs plans the same jobs
with the same IDs (which the repair stream deduplicates).

Copies belong to chunks, not to files (`pieces.py`): a chunk's holders are merged over every
file that names it, and each *need* naming the chunk says which holders it counts.
- A replicated chunk needs R copies (the largest R of the files naming it). Copies on LIVE or
  SUSPECT nodes count (no repair during the suspect grace); copies on LOST, unknown or draining
  nodes, or with a DELETE in flight, do not; COPY jobs in flight do. Below R: COPY to the
  best-ranked live nodes with room that do not hold it, spreading zones. Settled (R counted, all
  live, nothing in flight) it keeps its best-ranked R; when that ranking changed (a node
  joined) it copies to the newcomer, and the displaced copy becomes an extra.
- Each share of a coded segment needs one holder that counts for no other share of the segment
  (`assign_shares`). A missing share is copied from a holder of its chunk when one is left,
  else rebuilt (REENCODE) from k other shares, onto a node holding nothing of the segment.
- Deletes come last and per chunk: a LIVE holder is deleted (draining, or extra) only when
  every need naming the chunk is settled on live holders and none of them counts that holder
  (a copy counted on a suspect node may never come back). So no plan ever
  deletes a copy some need still counts, whatever repeats a chunk ID (1+m shares, a repeated
  segment, two files sharing a chunk).

Ranking weighs nodes by capacity, not by free bytes as write placement does: free bytes move
with every write, and a ranking that moved with them would shuttle chunks back and forth.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

from blake3 import blake3

from stratos.index.pieces import assign_shares, union_holders
from stratos.index.placement import rank as hrw_rank
from stratos.index.placement import score_of as capacity_score
from stratos.index.registry import LIVE, LOST, SUSPECT, Candidate
from stratos.v1 import repair_pb2, types_pb2

COPY = repair_pb2.REPAIR_KIND_COPY
REENCODE = repair_pb2.REPAIR_KIND_REENCODE
DELETE = repair_pb2.REPAIR_KIND_DELETE
Rank = Callable[[str, Sequence[Candidate]], list[Candidate]]
# Planned jobs come out most urgent first, so a rate limit starves rebalancing, never repair.
_URGENT, _DELETE, _DRAIN, _REBALANCE = range(4)


@dataclass(frozen=True)
class NodeView:
    """What the planner needs to know about one node."""

    node_id: str
    address: str
    zone: str
    state: types_pb2.NodeState.ValueType
    capacity_bytes: int
    free_bytes: int
    takes_new: bool = True  # False: the ledger suspended it; it keeps its copies, gets no new one


def node_views(
    statuses: Iterable[types_pb2.NodeStatus], suspended: Collection[str] = ()
) -> dict[str, NodeView]:
    return {
        s.info.node_id: NodeView(
            s.info.node_id,
            s.info.address,
            s.info.zone,
            s.state,
            s.info.capacity_bytes,
            s.info.capacity_bytes - s.info.used_bytes,
            s.info.node_id not in suspended,
        )
        for s in statuses
    }


@dataclass(frozen=True)
class FileView:
    manifest: types_pb2.Manifest
    locations: types_pb2.FileLocations | None = None


@dataclass(frozen=True)
class Unrecoverable:
    """A chunk (or coded segment) no live or suspect node can supply any more."""

    file_id: str
    segment: int
    chunk_id: str
    reason: str


@dataclass(frozen=True)
class Stuck:
    """A copy a chunk needs that no node can take now, and why."""

    file_id: str
    chunk_id: str
    size: int  # bytes of the copies that cannot be placed
    reason: str


@dataclass
class Plan:
    jobs: list[repair_pb2.RepairJob] = field(default_factory=list)
    unrecoverable: list[Unrecoverable] = field(default_factory=list)
    stuck: list[Stuck] = field(default_factory=list)


def _by_capacity(v: NodeView) -> Candidate:
    """A node as HRW ranks it for repair: weighted by capacity, not free bytes."""
    return Candidate(v.node_id, v.address, v.zone, v.capacity_bytes)


def job_id(kind: int, chunk_id: str, target_node_id: str) -> str:
    """The same work always has the same ID (32 hex chars)."""
    return blake3(f"{kind}\x00{chunk_id}\x00{target_node_id}".encode()).hexdigest(length=16)


@dataclass
class _Replicated:
    """Everything that asks a chunk for R copies, merged: the largest R wins."""

    chunk_id: str
    size: int
    replicas: int
    refs: list[tuple[str, int]]  # (file ID, segment index) naming the chunk


@dataclass
class _Ctx:
    nodes: dict[str, NodeView]
    draining: frozenset[str]
    rank: Rank
    copying: dict[str, set[str]]  # chunk → targets of COPY/REENCODE in flight
    deleting: dict[str, set[str]]  # chunk → targets of DELETE in flight
    avoid: frozenset[tuple[str, str]]
    now_ms: int
    holders: dict[str, list[str]] = field(default_factory=dict)  # chunk → every holder
    sizes: dict[str, int] = field(default_factory=dict)
    owner_file: dict[str, str] = field(default_factory=dict)  # chunk → first file naming it
    keep: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    unsettled: set[str] = field(default_factory=set)  # chunks with a need not met yet
    out: list[tuple[int, int, repair_pb2.RepairJob]] = field(default_factory=list)
    emitted: set[str] = field(default_factory=set)
    plan: Plan = field(default_factory=Plan)
    # chunk → node → its HRW sort key, each pair scored once per plan
    scores: dict[str, dict[str, tuple[float, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._states = {n: v.state for n, v in self.nodes.items()}

    def state(self, node_id: str) -> int:
        return self._states.get(node_id, LOST)

    def counts(self, node_id: str) -> bool:
        return self.state(node_id) in (LIVE, SUSPECT) and node_id not in self.draining

    def ranked(self, chunk_id: str, node_ids: Iterable[str]) -> list[str]:
        """Known nodes best first by capacity-weighted HRW, then unknown ones by name."""
        ids = set(node_ids)
        nodes = self.nodes
        if self.rank is hrw_rank:  # the same pairs are ranked again and again: score once
            keys = self.scores.get(chunk_id)
            if keys is None:
                keys = self.scores[chunk_id] = {}
            for n in ids:
                if n not in keys and (v := nodes.get(n)) is not None:
                    keys[n] = (-capacity_score(n, v.capacity_bytes, chunk_id), n)
            best = sorted((n for n in ids if n in keys), key=keys.__getitem__)
        else:
            known = [_by_capacity(v) for n in ids if (v := nodes.get(n)) is not None]
            best = [c.node_id for c in self.rank(chunk_id, known)]
        if len(best) == len(ids):
            return best
        return best + sorted(ids.difference(best))

    def eligible(self, chunk_id: str, size: int, holding: Collection[str]) -> list[str]:
        """Live, non-draining nodes that hold the chunk or have room for it, best first."""
        ids = (
            v.node_id
            for v in self.nodes.values()
            if v.state == LIVE
            and v.node_id not in self.draining
            and (v.node_id in holding or (v.takes_new and v.free_bytes >= size))
            and (v.node_id in holding or (chunk_id, v.node_id) not in self.avoid)
        )
        return self.ranked(chunk_id, ids)

    def choose(
        self, ranked: Sequence[str], count: int, used_zones: Iterable[str] = ()
    ) -> list[str]:
        """The first `count` of `ranked`, preferring zones not used yet (as placement does)."""
        zones = set(used_zones)
        chosen: list[str] = []
        for n in ranked:
            if len(chosen) < count and self.nodes[n].zone not in zones:
                chosen.append(n)
                zones.add(self.nodes[n].zone)
        for n in ranked:
            if len(chosen) < count and n not in chosen:
                chosen.append(n)
        return chosen

    def counted(self, chunk_id: str) -> list[str]:
        """Holders whose copy counts towards a need: live or suspect, not draining, no DELETE
        in flight; live ones first, each group best first."""
        leaving = self.deleting.get(chunk_id, set())
        ok = [h for h in self.holders[chunk_id] if self.counts(h) and h not in leaving]
        return sorted(self.ranked(chunk_id, ok), key=lambda n: self.state(n) != LIVE)

    def in_flight(self, chunk_id: str) -> set[str]:
        """Targets of copies of the chunk under way to nodes not holding it yet."""
        have = self.holders[chunk_id]
        return {
            t for t in self.copying.get(chunk_id, ()) if t not in have and self.state(t) != LOST
        }

    def sources(self, chunk_id: str) -> list[repair_pb2.ChunkSource]:
        """Holders a target can pull from: live ones best first, then suspect ones; copies
        about to be deleted last."""
        leaving = self.deleting.get(chunk_id, set())
        usable = [h for h in self.holders[chunk_id] if self.state(h) in (LIVE, SUSPECT)]
        order = self.ranked(chunk_id, usable)
        order.sort(key=lambda n: (n in leaving, self.state(n) != LIVE))
        return [repair_pb2.ChunkSource(node_id=n, address=self.nodes[n].address) for n in order]

    def why(self, chunk_id: str) -> str:
        holding = self.holders[chunk_id]
        lost = sorted(h for h in holding if self.state(h) == LOST)
        if lost:
            return f"{', '.join(lost)} lost"
        drained = sorted(h for h in holding if h in self.draining)
        if drained:
            return f"drain {', '.join(drained)}"
        return "under-replicated"

    def stuck_reason(self, chunk_id: str, size: int, distinct: int) -> str:
        """Why no node can take a copy the chunk needs: too few nodes, no room, or every
        candidate failed a recent copy."""
        usable = [
            v for v in self.nodes.values() if v.state == LIVE and v.node_id not in self.draining
        ]
        if len(usable) < distinct:
            return f"needs {distinct} distinct live storage nodes, {len(usable)} available"
        if not any(
            v.takes_new and v.free_bytes >= size
            for v in usable
            if v.node_id not in self.holders[chunk_id]
        ):
            return f"no live storage node without a copy has room for {size} more bytes"
        return "every node that could take it failed a recent copy; retried after the job timeout"

    def emit(self, priority: int, urgency: int, **fields) -> None:
        jid = job_id(fields["kind"], fields["chunk_id"], fields["target_node_id"])
        if jid in self.emitted:
            return  # two needs of one chunk asked for the same copy
        self.emitted.add(jid)
        job = repair_pb2.RepairJob(job_id=jid, planned_unix_ms=self.now_ms, **fields)
        if job.kind != DELETE:
            self.copying.setdefault(job.chunk_id, set()).add(job.target_node_id)
        self.out.append((priority, urgency, job))


def _replicated(ctx: _Ctx, need: _Replicated) -> None:
    cid, size, r = need.chunk_id, need.size, need.replicas
    counted = ctx.counted(cid)
    in_flight = ctx.in_flight(cid)
    missing = r - len(counted) - len(in_flight)
    common = {"file_id": ctx.owner_file[cid], "chunk_id": cid, "size": size}
    if missing > 0:
        ctx.unsettled.add(cid)
        sources = ctx.sources(cid)
        if not sources:
            for file_id, segment in need.refs:
                ctx.plan.unrecoverable.append(
                    Unrecoverable(file_id, segment, cid, f"no live copy left ({ctx.why(cid)})")
                )
            return
        taken = set(ctx.holders[cid]) | in_flight
        zones = {ctx.nodes[n].zone for n in [*counted, *in_flight]}
        ranked = [n for n in ctx.eligible(cid, size, ()) if n not in taken]
        targets = ctx.choose(ranked, missing, zones)
        if len(targets) < missing:
            reason = ctx.stuck_reason(cid, size, r)
            for file_id, _ in need.refs:
                ctx.plan.stuck.append(Stuck(file_id, cid, size * (missing - len(targets)), reason))
        reason = ctx.why(cid)
        priority = _DRAIN if reason.startswith("drain") else _URGENT
        for t in targets:
            ctx.emit(
                priority,
                len(counted),
                kind=COPY,
                target_node_id=t,
                sources=sources,
                reason=reason,
                **common,
            )
        return
    live = [h for h in counted if ctx.state(h) == LIVE]
    if in_flight or len(live) < r:
        ctx.unsettled.add(cid)  # wait for copies in flight, or for suspect nodes
        return
    keep = ctx.choose(live, r)
    ctx.keep[cid].update(keep)
    holding_live = [h for h in ctx.holders[cid] if ctx.state(h) == LIVE]
    if len(keep) < len(live) or any(h in ctx.draining for h in holding_live):
        return  # extras and drained copies go first (deletes, below)
    desired = ctx.choose(ctx.eligible(cid, size, live), r)
    newcomers = [n for n in desired if n not in live]
    if newcomers:
        ctx.emit(
            _REBALANCE,
            0,
            kind=COPY,
            target_node_id=newcomers[0],
            sources=ctx.sources(cid),
            reason="rebalance",
            **common,
        )


def _coded(ctx: _Ctx, m: types_pb2.Manifest, seg: types_pb2.Segment) -> None:
    k = m.erasure.data_shares
    shares = sorted(seg.shares, key=lambda s: s.index)
    # What is kept is decided on the copies that exist: a copy under way may still fail.
    kept = assign_shares([(s.index, ctx.counted(s.chunk_id)) for s in shares])
    for s in shares:
        if s.index in kept:
            ctx.keep[s.chunk_id].add(kept[s.index])
    # What is missing counts copies under way too (after the copies that exist), so the node
    # one goes to is not counted for another share meanwhile, nor a second copy planned.
    owner = assign_shares(
        [(s.index, [*ctx.counted(s.chunk_id), *sorted(ctx.in_flight(s.chunk_id))]) for s in shares]
    )
    chunks = {s.chunk_id for s in shares}
    ctx.unsettled.update(c for c in chunks if ctx.in_flight(c))
    missing = [s for s in shares if s.index not in owner]
    if not missing:
        return
    has_source = {c: bool(ctx.sources(c)) for c in chunks}
    busy = {n for c in chunks for n in ctx.holders[c]}
    busy |= {t for c in chunks for t in ctx.copying.get(c, ())}
    zones = {ctx.nodes[n].zone for n in owner.values()}
    for s in missing:
        ctx.unsettled.add(s.chunk_id)
        available = [o for o in shares if o.index != s.index and has_source[o.chunk_id]]
        reason = ctx.why(s.chunk_id)
        if not has_source[s.chunk_id] and len(available) < k:
            ctx.plan.unrecoverable.append(
                Unrecoverable(
                    m.file_id,
                    seg.index,
                    s.chunk_id,
                    f"only {len(available)} of {k} needed shares left ({reason})",
                )
            )
            return
        ranked = [n for n in ctx.eligible(s.chunk_id, s.size, ()) if n not in busy]
        target = ctx.choose(ranked, 1, zones)
        if not target:
            distinct = k + m.erasure.parity_shares
            why_stuck = ctx.stuck_reason(s.chunk_id, s.size, distinct)
            ctx.plan.stuck.append(Stuck(m.file_id, s.chunk_id, s.size, why_stuck))
            continue
        busy.add(target[0])
        zones.add(ctx.nodes[target[0]].zone)
        priority = _DRAIN if reason.startswith("drain") else _URGENT
        common = {"file_id": m.file_id, "chunk_id": s.chunk_id, "size": s.size}
        if has_source[s.chunk_id]:
            ctx.emit(
                priority,
                0,
                kind=COPY,
                target_node_id=target[0],
                sources=ctx.sources(s.chunk_id),
                reason=reason,
                **common,
            )
            continue
        ctx.emit(
            priority,
            0,
            kind=REENCODE,
            target_node_id=target[0],
            reason=reason,
            erasure=m.erasure,
            share_index=s.index,
            segment_stored_size=seg.stored_size,
            shares=[
                repair_pb2.ShareSource(
                    index=o.index, chunk_id=o.chunk_id, holders=ctx.sources(o.chunk_id)
                )
                for o in available
            ],
            **common,
        )


def _deletes(ctx: _Ctx) -> None:
    """Per chunk, once every need naming it is settled: delete the live holders no need
    counts — draining ones first in reason, extras otherwise. Never the last counted copy."""
    for cid in sorted(ctx.holders):
        keep = ctx.keep.get(cid, set())
        if cid in ctx.unsettled or not keep or any(ctx.state(n) != LIVE for n in keep):
            continue  # a need still waits, or counts a suspect copy that may not come back
        leaving = ctx.deleting.get(cid, set())
        for h in ctx.holders[cid]:
            if h in keep or h in leaving or ctx.state(h) != LIVE:
                continue
            reason = f"drain {h}" if h in ctx.draining else "extra copy"
            ctx.emit(
                _DELETE,
                0,
                kind=DELETE,
                target_node_id=h,
                reason=reason,
                file_id=ctx.owner_file[cid],
                chunk_id=cid,
                size=ctx.sizes[cid],
            )


def plan(
    files: Iterable[FileView],
    nodes: dict[str, NodeView],
    draining: Collection[str] = (),
    outstanding: Iterable[repair_pb2.RepairJob] = (),
    *,
    rank: Rank = hrw_rank,
    avoid: Collection[tuple[str, str]] = (),
    now_ms: int = 0,
) -> Plan:
    """Every job needed now, most urgent first (fewest copies left first).

    `outstanding` are jobs already published and not yet answered; `avoid` are (chunk ID,
    node ID) pairs that recently failed, never chosen as targets while listed."""
    copying: dict[str, set[str]] = defaultdict(set)
    deleting: dict[str, set[str]] = defaultdict(set)
    for job in outstanding:
        (deleting if job.kind == DELETE else copying)[job.chunk_id].add(job.target_node_id)
    ctx = _Ctx(nodes, frozenset(draining), rank, copying, deleting, frozenset(avoid), now_ms)
    files = list(files)
    ctx.holders = union_holders((f.manifest, f.locations) for f in files)
    replicated: dict[str, _Replicated] = {}
    coded: list[tuple[types_pb2.Manifest, types_pb2.Segment]] = []
    for f in files:
        m = f.manifest
        for seg in m.segments:
            if seg.shares:
                coded.append((m, seg))
                for s in seg.shares:
                    ctx.sizes.setdefault(s.chunk_id, s.size)
                    ctx.owner_file.setdefault(s.chunk_id, m.file_id)
            elif seg.chunk_id:
                cid = seg.chunk_id
                ctx.sizes.setdefault(cid, seg.stored_size)
                ctx.owner_file.setdefault(cid, m.file_id)
                need = replicated.setdefault(cid, _Replicated(cid, seg.stored_size, 1, []))
                need.replicas = max(need.replicas, m.replicas)
                need.refs.append((m.file_id, seg.index))
    for m, seg in coded:
        _coded(ctx, m, seg)
    for need in replicated.values():
        _replicated(ctx, need)
    _deletes(ctx)
    ctx.out.sort(key=lambda t: (t[0], t[1]))
    ctx.plan.jobs = [job for _, _, job in ctx.out]
    return ctx.plan
