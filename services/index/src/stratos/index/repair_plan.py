"""Repair, drain and rebalance decided as data: manifests with their current locations, the
node registry, the draining nodes and the jobs already in flight in; the RepairJobs that bring
every chunk back to its redundancy target out. Pure — no clock, no I/O — so every rule below is
unit-tested directly, and any index replica planning from the same inputs plans the same jobs
with the same IDs (which the repair stream deduplicates).

Rules, per replicated chunk (target R = manifest.replicas):
- copies on LIVE or SUSPECT nodes count (no repair during the suspect grace); copies on LOST,
  unknown or draining nodes, or with a DELETE in flight, do not; COPY jobs in flight do;
- below R: COPY to the best-ranked live nodes with room that do not hold it, spreading zones;
- at R on live nodes with nothing in flight: DELETE copies on draining nodes and extra copies
  (lowest-ranked first); otherwise, when the chunk's top-R ranking changed (a node joined),
  COPY to the newcomer — the displaced copy becomes an extra and is deleted once the new one is
  recorded.
Per erasure-coded share: one holder, on a node holding no other share of the segment; a missing
share is copied from its own holder when one is left, else rebuilt (REENCODE) from k others.

Ranking weighs nodes by capacity, not by free bytes as write placement does: free bytes move
with every write, and a ranking that moved with them would shuttle chunks back and forth.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

from blake3 import blake3

from stratos.index.locations import holders as current_holders
from stratos.index.placement import rank as hrw_rank
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


def node_views(statuses: Iterable[types_pb2.NodeStatus]) -> dict[str, NodeView]:
    return {
        s.info.node_id: NodeView(
            s.info.node_id,
            s.info.address,
            s.info.zone,
            s.state,
            s.info.capacity_bytes,
            s.info.capacity_bytes - s.info.used_bytes,
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


@dataclass
class Plan:
    jobs: list[repair_pb2.RepairJob] = field(default_factory=list)
    unrecoverable: list[Unrecoverable] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)  # chunks wanting a copy no node can take


def job_id(kind: int, chunk_id: str, target_node_id: str) -> str:
    """The same work always has the same ID (32 hex chars)."""
    return blake3(f"{kind}\x00{chunk_id}\x00{target_node_id}".encode()).hexdigest(length=16)


@dataclass
class _Ctx:
    nodes: dict[str, NodeView]
    draining: frozenset[str]
    rank: Rank
    copying: dict[str, set[str]]  # chunk → targets of COPY/REENCODE in flight
    deleting: dict[str, set[str]]  # chunk → targets of DELETE in flight
    avoid: frozenset[tuple[str, str]]
    now_ms: int
    out: list[tuple[int, int, repair_pb2.RepairJob]] = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)

    def state(self, node_id: str) -> int:
        view = self.nodes.get(node_id)
        return LOST if view is None else view.state

    def counts(self, node_id: str) -> bool:
        return self.state(node_id) in (LIVE, SUSPECT) and node_id not in self.draining

    def ranked(self, chunk_id: str, node_ids: Iterable[str]) -> list[str]:
        """Known nodes best first by capacity-weighted HRW, then unknown ones by name."""
        ids = set(node_ids)
        known = [
            Candidate(v.node_id, v.address, v.zone, v.capacity_bytes)
            for n in ids
            if (v := self.nodes.get(n)) is not None
        ]
        best = [c.node_id for c in self.rank(chunk_id, known)]
        return best + sorted(ids - set(best))

    def eligible(self, chunk_id: str, size: int, holding: Collection[str]) -> list[str]:
        """Live, non-draining nodes that hold the chunk or have room for it, best first."""
        ids = (
            v.node_id
            for v in self.nodes.values()
            if v.state == LIVE
            and v.node_id not in self.draining
            and (v.node_id in holding or v.free_bytes >= size)
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

    def sources(self, chunk_id: str, holding: Iterable[str]) -> list[types_pb2.NodeInfo]:
        """Holders a target can pull from: live ones best first, then suspect ones; copies
        about to be deleted last."""
        leaving = self.deleting.get(chunk_id, set())
        usable = [h for h in holding if self.state(h) in (LIVE, SUSPECT)]
        order = self.ranked(chunk_id, usable)
        order.sort(key=lambda n: (n in leaving, self.state(n) != LIVE))
        return [repair_pb2.ChunkSource(node_id=n, address=self.nodes[n].address) for n in order]

    def emit(self, priority: int, urgency: int, **fields) -> repair_pb2.RepairJob:
        job = repair_pb2.RepairJob(
            job_id=job_id(fields["kind"], fields["chunk_id"], fields["target_node_id"]),
            planned_unix_ms=self.now_ms,
            **fields,
        )
        self.out.append((priority, urgency, job))
        return job


def _why(ctx: _Ctx, holding: Iterable[str]) -> str:
    lost = sorted(h for h in holding if ctx.state(h) == LOST)
    if lost:
        return f"{', '.join(lost)} lost"
    drained = sorted(h for h in holding if h in ctx.draining)
    if drained:
        return f"drain {', '.join(drained)}"
    return "under-replicated"


def _replicated(ctx: _Ctx, file_id: str, seg: types_pb2.Segment, have: list[str], r: int) -> None:
    cid, size = seg.chunk_id, seg.stored_size
    leaving = ctx.deleting.get(cid, set())
    in_flight = {t for t in ctx.copying.get(cid, set()) if t not in have and ctx.state(t) != LOST}
    counted = [h for h in have if ctx.counts(h) and h not in leaving]
    missing = r - len(counted) - len(in_flight)
    common = {"file_id": file_id, "chunk_id": cid, "size": size}
    if missing > 0:
        sources = ctx.sources(cid, have)
        if not sources:
            ctx.plan.unrecoverable.append(
                Unrecoverable(file_id, seg.index, cid, f"no live copy left ({_why(ctx, have)})")
            )
            return
        taken = set(have) | in_flight
        zones = {ctx.nodes[n].zone for n in [*counted, *in_flight]}
        ranked = [n for n in ctx.eligible(cid, size, ()) if n not in taken]
        targets = ctx.choose(ranked, missing, zones)
        if len(targets) < missing:
            ctx.plan.stuck.append(cid)
        reason = _why(ctx, have)
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
        return  # wait for copies in flight, or for suspect nodes to come back or be lost
    for h in have:
        if h in ctx.draining and ctx.state(h) == LIVE and h not in leaving:
            ctx.emit(_DELETE, 0, kind=DELETE, target_node_id=h, reason=f"drain {h}", **common)
    keep = ctx.choose(ctx.ranked(cid, live), r)
    for h in live:
        if h not in keep:
            ctx.emit(_DELETE, 0, kind=DELETE, target_node_id=h, reason="extra copy", **common)
    if len(keep) < len(live) or any(h in ctx.draining and ctx.state(h) == LIVE for h in have):
        return
    desired = ctx.choose(ctx.eligible(cid, size, live), r)
    newcomers = [n for n in desired if n not in live]
    if newcomers:
        ctx.emit(
            _REBALANCE,
            0,
            kind=COPY,
            target_node_id=newcomers[0],
            sources=ctx.sources(cid, live),
            reason="rebalance",
            **common,
        )


def _coded(
    ctx: _Ctx, m: types_pb2.Manifest, seg: types_pb2.Segment, where: dict[str, list[str]]
) -> None:
    k = m.erasure.data_shares
    shares = sorted(seg.shares, key=lambda s: s.index)
    owner: dict[str, int] = {}  # node → the one share of this segment it counts for
    counted: dict[int, list[str]] = {}
    for s in shares:
        leaving = ctx.deleting.get(s.chunk_id, set())
        ok = [h for h in where[s.chunk_id] if ctx.counts(h) and h not in leaving and h not in owner]
        counted[s.index] = ctx.ranked(s.chunk_id, ok)
        if counted[s.index]:
            owner[counted[s.index][0]] = s.index
    sources = {s.index: ctx.sources(s.chunk_id, where[s.chunk_id]) for s in shares}
    busy = {n for s in shares for n in where[s.chunk_id]}
    busy |= {t for s in shares for t in ctx.copying.get(s.chunk_id, set())}
    zones = {ctx.nodes[n].zone for n in owner}
    for s in shares:
        common = {"file_id": m.file_id, "chunk_id": s.chunk_id, "size": s.size}
        in_flight = {t for t in ctx.copying.get(s.chunk_id, set()) if ctx.state(t) != LOST} - set(
            where[s.chunk_id]
        )
        if counted[s.index]:
            if in_flight:
                continue
            keep = counted[s.index][0]
            for h in where[s.chunk_id]:
                if h != keep and ctx.state(h) == LIVE and h not in ctx.deleting.get(s.chunk_id, ()):
                    why = f"drain {h}" if h in ctx.draining else "extra share copy"
                    ctx.emit(_DELETE, 0, kind=DELETE, target_node_id=h, reason=why, **common)
            continue
        if in_flight:
            continue
        ranked = [n for n in ctx.eligible(s.chunk_id, s.size, ()) if n not in busy]
        target = ctx.choose(ranked, 1, zones)
        available = [o for o in shares if o.index != s.index and sources[o.index]]
        reason = _why(ctx, where[s.chunk_id])
        if not sources[s.index] and len(available) < k:
            ctx.plan.unrecoverable.append(
                Unrecoverable(
                    m.file_id,
                    seg.index,
                    s.chunk_id,
                    f"only {len(available)} of {k} needed shares left ({reason})",
                )
            )
            return
        if not target:
            ctx.plan.stuck.append(s.chunk_id)
            continue
        busy.add(target[0])
        zones.add(ctx.nodes[target[0]].zone)
        priority = _DRAIN if reason.startswith("drain") else _URGENT
        if sources[s.index]:
            ctx.emit(
                priority,
                0,
                kind=COPY,
                target_node_id=target[0],
                sources=sources[s.index],
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
                repair_pb2.ShareSource(index=o.index, chunk_id=o.chunk_id, holders=sources[o.index])
                for o in available
            ],
            **common,
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
    for f in files:
        m = f.manifest
        where = current_holders(m, f.locations)
        for seg in m.segments:
            if seg.shares:
                _coded(ctx, m, seg, where)
            elif seg.chunk_id:
                _replicated(ctx, m.file_id, seg, where[seg.chunk_id], max(1, m.replicas))
    ctx.out.sort(key=lambda t: (t[0], t[1]))
    ctx.plan.jobs = [job for _, _, job in ctx.out]
    return ctx.plan


@dataclass(frozen=True)
class FileHealth:
    file_id: str
    name: str
    state: str  # "healthy", "degraded" or "repairing" (degraded with jobs outstanding)
    bytes_to_repair: int
    unreadable: bool  # some segment has too few copies or shares on live or suspect nodes


@dataclass(frozen=True)
class Health:
    files: list[FileHealth]
    healthy: int
    degraded: int
    repairing: int
    bytes_to_repair: int
    node_chunks: dict[str, int]  # node → chunk copies it holds, per the locations


def _file_health(
    f: FileView, nodes: dict[str, NodeView], busy: Collection[str]
) -> tuple[FileHealth, dict[str, list[str]]]:
    m = f.manifest
    where = current_holders(m, f.locations)

    def state(n: str) -> int:
        return nodes[n].state if n in nodes else LOST

    def on(holding: Iterable[str], states: Collection[int]) -> int:
        return sum(1 for n in set(holding) if state(n) in states)

    missing = 0
    unreadable = False
    for seg in m.segments:
        if seg.shares:
            gone = [s for s in seg.shares if on(where[s.chunk_id], (LIVE,)) == 0]
            missing += sum(s.size for s in gone)
            readable = sum(1 for s in seg.shares if on(where[s.chunk_id], (LIVE, SUSPECT)))
            unreadable |= readable < m.erasure.data_shares
        elif seg.chunk_id:
            live = on(where[seg.chunk_id], (LIVE,))
            missing += max(0, max(1, m.replicas) - live) * seg.stored_size
            unreadable |= on(where[seg.chunk_id], (LIVE, SUSPECT)) == 0
    verdict = "healthy" if missing == 0 else "repairing" if m.file_id in busy else "degraded"
    return FileHealth(m.file_id, m.name, verdict, missing, unreadable), where


def health(
    files: Iterable[FileView],
    nodes: dict[str, NodeView],
    outstanding: Iterable[repair_pb2.RepairJob] = (),
) -> Health:
    """What `stratos health` shows: a file is healthy when every chunk has its target number of
    copies (every share one holder) on live nodes — draining ones included, their copies are
    still there — and repairing when it is not but jobs for it are outstanding."""
    busy = {j.file_id for j in outstanding if j.kind != DELETE}
    out: list[FileHealth] = []
    per_node: dict[str, int] = defaultdict(int)
    for f in files:
        fh, where = _file_health(f, nodes, busy)
        out.append(fh)
        for holding in where.values():
            for n in set(holding):
                per_node[n] += 1
    return Health(
        files=sorted(out, key=lambda fh: fh.file_id),
        healthy=sum(1 for fh in out if fh.state == "healthy"),
        degraded=sum(1 for fh in out if fh.state == "degraded"),
        repairing=sum(1 for fh in out if fh.state == "repairing"),
        bytes_to_repair=sum(fh.bytes_to_repair for fh in out),
        node_chunks=dict(sorted(per_node.items())),
    )
