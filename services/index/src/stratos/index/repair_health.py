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
from stratos.index.repair_plan import DELETE, FileView, NodeView, Plan, Stuck
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
    files: list[FileHealth]  # from `health()` every file; from a HealthBook, the unhealthy ones
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
    file_count: int = 0  # files stored


@dataclass(frozen=True)
class FileCheck:
    """One file's health and the suspect nodes it waits on. `only_waiting`: every copy it is
    short of is on a suspect node, nothing is stuck or in flight — planning it again changes
    nothing until one of those nodes changes state (which plans its files anyway)."""

    health: FileHealth
    waiting: frozenset[str] = frozenset()
    only_waiting: bool = False


def check_files(
    files: Iterable[FileView],
    nodes: dict[str, NodeView],
    outstanding: Iterable[repair_pb2.RepairJob] = (),
    plan: Plan | None = None,
) -> list[FileCheck]:
    """Each file's health. A file is short of its target by the copies (shares) missing on
    live nodes — draining ones included, their copies are still there; `plan` (the round's plan)
    says which of the missing copies are stuck. `files` must hold every file naming each chunk
    they name (`CatalogState.closure`): a copy is a node's, whichever file recorded it."""
    files = list(files)
    where = union_holders((f.manifest, f.locations) for f in files)
    stuck_chunks = {s.chunk_id for s in plan.stuck} if plan else set()
    reasons = {}
    for u in plan.unrecoverable if plan else ():
        reasons.setdefault(u.file_id, u.reason)
    busy = {j.chunk_id for j in outstanding if j.kind != DELETE}

    state = {n: v.state for n, v in nodes.items()}  # a node not in the registry is lost

    def held(cid: str, states: Collection[int]) -> list[str]:
        return [n for n in where.get(cid, ()) if state.get(n, LOST) in states]

    out: list[FileCheck] = []
    for f in files:
        m = f.manifest
        buckets = {"repair": 0, "stuck": 0, "lost": 0}
        unreadable = touched = unexplained = False
        waiting: set[str] = set()
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
            on_suspect = {cid: held(cid, (SUSPECT,)) for cid, _ in short}
            if seg.shares:  # each missing share waits on a suspect node of its own
                suspects = {n for nodes in on_suspect.values() for n in nodes}
                unexplained |= len(suspects) < len(short) or not all(on_suspect.values())
            elif short:  # as many suspect copies as copies missing
                unexplained |= len(on_suspect[seg.chunk_id]) < missing
            for cid, size in short:
                touched |= cid in busy
                waiting.update(on_suspect[cid])
                bucket = "lost" if lost else "stuck" if cid in stuck_chunks else "repair"
                buckets[bucket] += size
        short_bytes = sum(buckets.values())
        if unreadable:
            verdict = "unrecoverable"
        elif short_bytes == 0:
            verdict = "healthy"
        else:
            verdict = "repairing" if touched else "degraded"
        fh = FileHealth(
            m.file_id,
            verdict,
            buckets["repair"],
            buckets["stuck"],
            buckets["lost"],
            reasons.get(m.file_id, "") if unreadable else "",
        )
        only_waiting = bool(waiting) and not (unexplained or touched or unreadable)
        only_waiting &= buckets["stuck"] == 0
        out.append(FileCheck(fh, frozenset(waiting), only_waiting))
    return out


def health(
    files: Iterable[FileView],
    nodes: dict[str, NodeView],
    outstanding: Iterable[repair_pb2.RepairJob] = (),
    plan: Plan | None = None,
) -> Health:
    """The whole mesh's health from every file at once (`HealthBook` keeps the same one change
    at a time)."""
    files = list(files)
    book = HealthBook()
    book.update({f.manifest.file_id for f in files}, check_files(files, nodes, outstanding, plan))
    per_node: dict[str, int] = defaultdict(int)
    for holding in union_holders((f.manifest, f.locations) for f in files).values():
        for n in holding:
            per_node[n] += 1
    h = book.health(dict(sorted(per_node.items())), plan.stuck if plan else ())
    every = sorted((c.health for c in book.checks()), key=lambda fh: fh.file_id)
    return Health(**{**h.__dict__, "files": every})


class HealthBook:
    """Every file's last health, with the totals kept as files change: a round re-checks only
    the files it planned, and `health()` costs what is not healthy, not what is stored. Healthy
    files are counted and remembered by ID only (most files are healthy; a record each would
    cost more than the file's own manifest)."""

    def __init__(self) -> None:
        self._healthy: set[str] = set()
        self._sick: dict[str, FileCheck] = {}  # the checks that are not healthy
        self._counts: dict[str, int] = defaultdict(int)
        self._bytes = {"repair": 0, "stuck": 0, "lost": 0}

    def __len__(self) -> int:
        return len(self._healthy) + len(self._sick)

    def checks(self) -> Iterable[FileCheck]:
        yield from (FileCheck(FileHealth(f, "healthy", 0)) for f in self._healthy)
        yield from self._sick.values()

    def update(self, scope: Iterable[str], checks: Iterable[FileCheck]) -> None:
        """Forget the files of `scope` (some may be gone), then record `checks`."""
        for file_id in scope:
            self._forget(file_id)
        for c in checks:
            self._forget(c.health.file_id)
            if c.health.state == "healthy":
                self._healthy.add(c.health.file_id)
            else:
                self._sick[c.health.file_id] = c
            self._count(c, 1)

    def _forget(self, file_id: str) -> None:
        if file_id in self._healthy:
            self._healthy.discard(file_id)
            self._counts["healthy"] -= 1
            return
        old = self._sick.pop(file_id, None)
        if old is not None:
            self._count(old, -1)

    def _count(self, c: FileCheck, sign: int) -> None:
        self._counts[c.health.state] += sign
        self._bytes["repair"] += sign * c.health.bytes_to_repair
        self._bytes["stuck"] += sign * c.health.bytes_stuck
        self._bytes["lost"] += sign * c.health.bytes_lost

    def unhealthy(self) -> list[FileCheck]:
        return list(self._sick.values())

    def health(self, node_chunks: dict[str, int], stuck: Iterable[Stuck]) -> Health:
        """`node_chunks`: distinct chunks per node; `stuck`: the copies no node can take now."""
        sick = self.unhealthy()
        waiting = {n for c in sick for n in c.waiting}
        return Health(
            files=sorted((c.health for c in sick), key=lambda fh: fh.file_id),
            healthy=self._counts["healthy"],
            degraded=self._counts["degraded"],
            repairing=self._counts["repairing"],
            unrecoverable=self._counts["unrecoverable"],
            bytes_to_repair=self._bytes["repair"],
            bytes_stuck=self._bytes["stuck"],
            bytes_lost=self._bytes["lost"],
            node_chunks=node_chunks,
            stuck=_stuck_groups(stuck),
            waiting_on=sorted(waiting),
            file_count=len(self),
        )


def _stuck_groups(stuck: Iterable[Stuck]) -> list[StuckGroup]:
    by_reason: dict[str, dict[str, int]] = defaultdict(dict)
    for s in stuck:
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
