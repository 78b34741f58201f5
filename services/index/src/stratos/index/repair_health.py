"""What `stratos health` shows, decided as data: the files, the nodes, the last repair plan and
the jobs in flight in; per-file states, bytes by what will become of them, why repair is stuck
and when it will be done out. Pure, so the rules are unit-tested directly.

Every byte a file is short of its redundancy target on live nodes is in exactly one bucket:
- *to repair*: copies planned, under way, or waiting for the suspect grace to end — they will be
  made, and only they have an ETA;
- *stuck*: no node can take them now (too few nodes, no room) — they wait for the mesh to grow,
  and the reason says what would unblock them;
- *lost*: the segment cannot be read from live or suspect nodes, so nothing is left to rebuild
  them from — they are never "to repair".
A file is healthy, repairing (copies of its chunks under way), degraded, or unrecoverable (some
segment cannot be read): exactly one of these, so they add up to the files stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from stratos.index.pieces import assign_shares, union_holders
from stratos.index.registry import LIVE, LOST, SUSPECT
from stratos.index.repair_plan import DELETE, FileView, NodeView, Plan
from stratos.v1 import repair_pb2


@dataclass(frozen=True)
class FileHealth:
    file_id: str
    state: str  # "healthy", "degraded", "repairing" or "unrecoverable"
    bytes_to_repair: int
    bytes_stuck: int = 0
    bytes_lost: int = 0
    reason: str = ""  # why an unrecoverable file cannot be read

    @property
    def unreadable(self) -> bool:
        return self.state == "unrecoverable"


@dataclass(frozen=True)
class StuckGroup:
    """Chunks that want copies no node can take, for one reason."""

    reason: str
    chunks: int
    bytes: int


@dataclass(frozen=True)
class Health:
    files: list[FileHealth]
    healthy: int
    degraded: int
    repairing: int
    unrecoverable: int
    bytes_to_repair: int
    bytes_stuck: int
    bytes_lost: int
    node_chunks: dict[str, int]  # node → distinct chunks it holds, per the locations
    stuck: list[StuckGroup]
    waiting_on: list[str]  # suspect nodes holding copies that files are short of


def health(
    files: Iterable[FileView],
    nodes: dict[str, NodeView],
    outstanding: Iterable[repair_pb2.RepairJob] = (),
    plan: Plan | None = None,
) -> Health:
    """A file is short of its target by the copies (shares) missing on live nodes — draining
    ones included, their copies are still there; `plan` (the round's plan) says which of the
    missing copies are stuck."""
    files = list(files)
    where = union_holders((f.manifest, f.locations) for f in files)
    stuck_chunks = {s.chunk_id for s in plan.stuck} if plan else set()
    reasons = {}
    for u in plan.unrecoverable if plan else ():
        reasons.setdefault(u.file_id, u.reason)
    busy = {j.chunk_id for j in outstanding if j.kind != DELETE}

    def state(n: str) -> int:
        return nodes[n].state if n in nodes else LOST

    def held(cid: str, states: Collection[int]) -> list[str]:
        return [n for n in where.get(cid, ()) if state(n) in states]

    out: list[FileHealth] = []
    waiting: set[str] = set()
    for f in files:
        m = f.manifest
        buckets = {"repair": 0, "stuck": 0, "lost": 0}
        unreadable = touched = False
        for seg in m.segments:
            short: list[tuple[str, int]] = []  # (chunk, bytes missing on live nodes)
            if seg.shares:
                owners = assign_shares([(s.index, held(s.chunk_id, (LIVE,))) for s in seg.shares])
                short = [(s.chunk_id, s.size) for s in seg.shares if s.index not in owners]
                readable = sum(1 for s in seg.shares if held(s.chunk_id, (LIVE, SUSPECT)))
                lost = readable < m.erasure.data_shares
            elif seg.chunk_id:
                missing = max(1, m.replicas) - len(held(seg.chunk_id, (LIVE,)))
                short = [(seg.chunk_id, seg.stored_size * missing)] if missing > 0 else []
                lost = not held(seg.chunk_id, (LIVE, SUSPECT))
            else:
                continue
            unreadable |= lost
            for cid, size in short:
                touched |= cid in busy
                waiting.update(held(cid, (SUSPECT,)))
                bucket = "lost" if lost else "stuck" if cid in stuck_chunks else "repair"
                buckets[bucket] += size
        short_bytes = sum(buckets.values())
        if unreadable:
            verdict = "unrecoverable"
        elif short_bytes == 0:
            verdict = "healthy"
        else:
            verdict = "repairing" if touched else "degraded"
        out.append(
            FileHealth(
                m.file_id,
                verdict,
                buckets["repair"],
                buckets["stuck"],
                buckets["lost"],
                reasons.get(m.file_id, "") if unreadable else "",
            )
        )
    per_node: dict[str, int] = defaultdict(int)
    for holding in where.values():
        for n in holding:
            per_node[n] += 1
    return Health(
        files=sorted(out, key=lambda fh: fh.file_id),
        healthy=sum(1 for fh in out if fh.state == "healthy"),
        degraded=sum(1 for fh in out if fh.state == "degraded"),
        repairing=sum(1 for fh in out if fh.state == "repairing"),
        unrecoverable=sum(1 for fh in out if fh.state == "unrecoverable"),
        bytes_to_repair=sum(fh.bytes_to_repair for fh in out),
        bytes_stuck=sum(fh.bytes_stuck for fh in out),
        bytes_lost=sum(fh.bytes_lost for fh in out),
        node_chunks=dict(sorted(per_node.items())),
        stuck=_stuck_groups(plan),
        waiting_on=sorted(waiting),
    )


def _stuck_groups(plan: Plan | None) -> list[StuckGroup]:
    by_reason: dict[str, dict[str, int]] = defaultdict(dict)
    for s in plan.stuck if plan else ():
        by_reason[s.reason][s.chunk_id] = max(s.size, by_reason[s.reason].get(s.chunk_id, 0))
    groups = [StuckGroup(r, len(c), sum(c.values())) for r, c in by_reason.items()]
    return sorted(groups, key=lambda g: (-g.bytes, g.reason))


def eta(h: Health, rate_bytes_s: float, jobs_outstanding: int) -> tuple[float, str]:
    """(seconds until the bytes to repair are repaired, why that is unknown): the seconds are
    0 whenever the reason is set, and both are empty when nothing is left to repair."""
    if h.bytes_to_repair == 0:
        if h.bytes_stuck:
            return 0.0, f"never, until the mesh changes: {h.stuck[0].reason}" if h.stuck else ""
        return 0.0, ""
    if rate_bytes_s > 0:
        return h.bytes_to_repair / rate_bytes_s, ""
    if h.waiting_on:
        return 0.0, (
            f"waiting for {', '.join(h.waiting_on)} (suspect): repair starts if it stays "
            "silent until it is declared lost"
        )
    if jobs_outstanding:
        return 0.0, "repair jobs are queued and no copy has finished yet"
    return 0.0, "no repair is under way yet; the next planning round starts it"
