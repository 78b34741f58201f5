"""Healing figures (issue 4) on a local mesh of 5 storage nodes with its own STRATOS_HOME, every
process of it ended before `measure` returns. The mesh runs with the repair defaults (rate,
concurrency, planning interval) and only a short failure detector (`DETECTOR_ENV`), so that a
figure spends its time repairing, not waiting out the production grace of 30 s.

- `healing.repair_ratio`: 1 GiB of user data (4 x 256 MiB files, R=3 — 3 GiB stored fits the
  time budget, so no need for R=2) on 5 nodes; the node holding most bytes is SIGKILLed (with
  localmesh's zones, storage-3 alone in zone-3 and so holding a copy of every chunk). Timed
  from the first moment GetHealth shows it LOST — the detector's grace is configuration, not
  repair speed, and the index plans nothing before LOST (copies on SUSPECT nodes still count),
  so the clock starts when repair can start — until GetHealth shows every file healthy and
  bytes_to_repair 0. Divided by (its bytes before the kill, from GetHealth's per-node bytes,
  ÷ the disk's fsync write bandwidth measured in the same run). The index recomputes health as
  soon as the last outstanding job is answered, so the end is not a planning round late.
- `healing.rebalance_moved_ratio`: the lost node is started again (its stale copies settle,
  not measured), then a 6th node joins; once the mesh settles (no job outstanding, every file
  healthy, per-node bytes unchanged for 3 planning rounds), the bytes it holds ÷ 1/6 of the
  bytes held by all live nodes.
- `healing.foreground_put_ratio`: a 256 MiB put (R=3) on the 6 settled nodes; the node holding
  most bytes is SIGKILLed, and once it is LOST and repair jobs are in flight the same put runs
  again, while GetHealth is polled to check that bytes_to_repair stays > 0 until the put ends;
  after the repair, the same put on the 5 remaining nodes. Ratio = the put's MB/s during repair
  ÷ the mean of the two without.

Not the issue's, reported beside them: `healing.repair_throughput`, the bytes re-replicated
per second of repair against the disk's write bandwidth: storage nodes repair at full speed
while no client transfer runs on them and at STRATOS_REPAIR_BUSY_RATE_BYTES_S while one does.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.results import Figure
from bench.storage import TMPFS, make_file
from stratos.common.errors import Unavailable
from stratos.index.config import IndexSettings
from stratos.sdk import localmesh, transfer
from stratos.sdk.client import MeshClient
from stratos.sdk.home import Home
from stratos.sdk.meshtls import local_client_tls
from stratos.storage.config import StorageSettings
from stratos.v1 import index_pb2, types_pb2

MiB = 1 << 20
NODES = 5
REPLICAS = 3
FILE_SIZE = 256 * MiB
USER_FILES = 4  # x FILE_SIZE = 1 GiB of user data
CAPACITY = 64 << 30
# Inherited by every process localmesh starts: a node is LOST 3 s after its last heartbeat.
DETECTOR_ENV = {
    "STRATOS_HEARTBEAT_INTERVAL_S": "0.5",
    "STRATOS_SUSPECT_AFTER_S": "1.5",
    "STRATOS_LOST_AFTER_S": "3",
}
POLL_S = 0.1
PROGRESS_S = 2.0
PUT_TIMEOUT_S = 300.0
LOST_TIMEOUT_S = 30.0
HEAL_TIMEOUT_S = 600.0
SETTLE_ROUNDS = 3

LIVE = types_pb2.NODE_STATE_LIVE
LOST = types_pb2.NODE_STATE_LOST


# -- arithmetic ---------------------------------------------------------------------------------


def repair_bound_s(bytes_repaired: int, disk_mb_s: float) -> float:
    """Seconds the disk needs to write `bytes_repaired` once at its fsync'd bandwidth."""
    return bytes_repaired / (disk_mb_s * 1e6)


def optimal_join_bytes(stored_bytes: int, nodes_after: int) -> float:
    """What a newcomer should hold when the stored bytes spread evenly over `nodes_after`."""
    return stored_bytes / nodes_after


def mb_s(size: int, seconds: float) -> float:
    return size / seconds / 1e6


# -- the mesh -----------------------------------------------------------------------------------


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ (so the mesh's processes inherit them), restored afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _Index:
    """GetHealth on the local mesh's index."""

    def __init__(self, home: Home) -> None:
        self._channels = transfer.Channels(local_client_tls(home).channel_credentials())
        self._client = transfer.IndexClient(home.index_addresses(), self._channels)

    async def health(self) -> index_pb2.GetHealthResponse | None:
        """None while the index has not read the mesh yet."""
        try:
            return await self._client.call("GetHealth", index_pb2.GetHealthRequest(), timeout=5.0)
        except Unavailable:
            return None

    async def close(self) -> None:
        await self._channels.close()


def _nodes(
    h: index_pb2.GetHealthResponse, state: int | None = None
) -> dict[str, index_pb2.NodeHealth]:
    return {n.node_id: n for n in h.nodes if state is None or n.state == state}


def _outstanding(h: index_pb2.GetHealthResponse) -> int:
    return sum(n.jobs_outstanding for n in h.nodes)


def _summary(h: index_pb2.GetHealthResponse | None) -> str:
    if h is None:
        return "no answer from the index"
    return (
        f"{h.files} files ({h.healthy} healthy, {h.degraded} degraded, {h.repairing} repairing), "
        f"{h.bytes_to_repair / 1e6:.0f} MB to repair, {h.repair_bytes_per_s / 1e6:.0f} MB/s, "
        f"{_outstanding(h)} jobs outstanding"
    )


def _all_healthy(h: index_pb2.GetHealthResponse, files: int) -> bool:
    return h.files == files and h.healthy == files and h.bytes_to_repair == 0


async def _until(
    index: _Index,
    what: str,
    done: Callable[[index_pb2.GetHealthResponse], bool],
    timeout_s: float,
    progress: bool = False,
) -> tuple[index_pb2.GetHealthResponse, float]:
    """Poll GetHealth every POLL_S until `done`; the answer and the monotonic time it came."""
    start = time.monotonic()
    deadline = start + timeout_s
    shown = start
    h = None
    while True:
        h = await index.health()
        now = time.monotonic()
        if h is not None and done(h):
            return h, now
        if now >= deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s; last: {_summary(h)}")
        if progress and now - shown >= PROGRESS_S:
            shown = now
            print(f"healing: t={now - start:4.0f} s {_summary(h)}", flush=True)
        await asyncio.sleep(POLL_S)


async def _settle(
    index: _Index, files: int, rounds_s: float, timeout_s: float
) -> index_pb2.GetHealthResponse:
    """Wait until every file is healthy, no job is outstanding, and the live nodes' bytes have
    not changed for `rounds_s` (a moment between two rounds with nothing in flight is not the
    end of a rebalance)."""
    deadline = time.monotonic() + timeout_s
    stable_since, last = None, None
    while True:
        h, now = await _until(
            index,
            "settling",
            lambda h: _all_healthy(h, files) and _outstanding(h) == 0,
            deadline - time.monotonic(),
            progress=True,
        )
        load = {n.node_id: n.bytes for n in h.nodes if n.state == LIVE}
        if load != last:
            stable_since, last = now, load
        elif now - stable_since >= rounds_s:
            return h
        await asyncio.sleep(POLL_S * 5)


async def _put(client: MeshClient, src: Path) -> float:
    """Seconds one put of `src` with R=3 takes."""
    start = time.perf_counter()
    await asyncio.wait_for(client.put(src, replicas=REPLICAS), PUT_TIMEOUT_S)
    return time.perf_counter() - start


async def _kill_until_lost(
    home: Home, index: _Index, victim: str
) -> tuple[float, index_pb2.GetHealthResponse, float]:
    """SIGKILL `victim`; (kill time, the first health showing it LOST, that time)."""
    killed = time.monotonic()
    await asyncio.to_thread(localmesh.kill, home, victim)
    h, lost = await _until(
        index,
        f"{victim} marked LOST",
        lambda h: victim in _nodes(h) and _nodes(h)[victim].state == LOST,
        LOST_TIMEOUT_S,
    )
    return killed, h, lost


def _heaviest(h: index_pb2.GetHealthResponse) -> tuple[str, int]:
    node = max(_nodes(h, LIVE).values(), key=lambda n: (n.bytes, n.node_id))
    return node.node_id, node.bytes


def _cpu_s(home: Home) -> dict[str, float]:
    """CPU seconds so far of each running process of the mesh, by name, and of this one (the
    client of the puts) as "client"."""
    tick, out = os.sysconf("SC_CLK_TCK"), {"client": time.process_time()}
    for row in localmesh.status(home):
        if not row.pid:
            continue
        try:
            fields = Path(f"/proc/{row.pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[row.name] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return out


def _cpu_line(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    used = {k: (after[k] - before.get(k, 0.0)) / seconds for k in after}
    storage = sum(v for k, v in used.items() if k.startswith("storage"))
    return (
        f"cores used: storage nodes {storage:.2f}, index {used.get('index', 0):.2f}, "
        f"nats {used.get('nats', 0):.2f}, client {used['client']:.2f}"
    )


async def _timed_put(home: Home, client: MeshClient, src: Path) -> tuple[float, str]:
    """Seconds one put takes, and the cores the mesh and this process used meanwhile."""
    cpu = _cpu_s(home)
    seconds = await _put(client, src)
    return seconds, _cpu_line(cpu, _cpu_s(home), seconds)


# -- the scenario -------------------------------------------------------------------------------


@dataclass
class _Results:
    repair_s: float = 0.0
    repaired_bytes: int = 0
    moved_bytes: int = 0
    stored_bytes: int = 0
    put_during_s: float = 0.0
    put_without_s: tuple[float, ...] = ()


async def _repair_phase(home: Home, index: _Index, files: int, r: _Results) -> str:
    """Lose the node holding most; the node's name."""
    h = await _settle(index, files, 0.0, HEAL_TIMEOUT_S)
    victim, r.repaired_bytes = _heaviest(h)
    print(
        f"healing: {files} files healthy on {len(_nodes(h, LIVE))} nodes; killing {victim}, "
        f"which holds {r.repaired_bytes / 1e6:.0f} MB",
        flush=True,
    )
    killed, _, lost = await _kill_until_lost(home, index, victim)
    print(f"healing: {victim} LOST {lost - killed:.1f} s after the kill", flush=True)
    # The health a round computed before the loss may still be served: see the loss first.
    await _until(index, "loss seen in health", lambda h: h.bytes_to_repair > 0, LOST_TIMEOUT_S)
    cpu1 = _cpu_s(home)
    h, healed = await _until(
        index, "repair", lambda h: _all_healthy(h, files), HEAL_TIMEOUT_S, progress=True
    )
    r.repair_s = healed - lost
    print(
        f"healing: redundancy restored {r.repair_s:.1f} s after LOST "
        f"({mb_s(r.repaired_bytes, r.repair_s):.0f} MB/s); "
        f"{_cpu_line(cpu1, _cpu_s(home), max(healed - lost, 1e-3))}",
        flush=True,
    )
    return victim


async def _rebalance_phase(home: Home, index: _Index, files: int, victim: str, r: _Results) -> None:
    rounds_s = SETTLE_ROUNDS * IndexSettings().repair_interval_s
    # The lost node comes back rather than a new one taking its place: the 6 nodes are then
    # storage-1..6, two per zone, and a newcomer's fair share is 1/6 (with an uneven zone,
    # placement's zone spreading alone would decide its share).
    await asyncio.to_thread(localmesh.start, home, victim)
    print(f"healing: {victim} restarted; settling", flush=True)
    h = await _settle(index, files, rounds_s, HEAL_TIMEOUT_S)
    before = {n.node_id: n.bytes for n in h.nodes if n.state == LIVE}
    (joined,) = await asyncio.to_thread(localmesh.add_storage, home, 1)
    print(f"healing: {joined} joins as node {len(before) + 1}; settling", flush=True)
    h = await _settle(index, files, rounds_s, HEAL_TIMEOUT_S)
    live = _nodes(h, LIVE)
    r.moved_bytes = live[joined].bytes
    r.stored_bytes = sum(n.bytes for n in live.values())
    gained = sum(max(0, n.bytes - before.get(n.node_id, 0)) for n in live.values())
    print(
        f"healing: {joined} holds {r.moved_bytes / 1e6:.0f} MB of "
        f"{r.stored_bytes / 1e6:.0f} MB stored on {len(live)} nodes "
        f"(1/{len(live)} = {r.stored_bytes / len(live) / 1e6:.0f} MB); all nodes together "
        f"gained {gained / 1e6:.0f} MB",
        flush=True,
    )


async def _foreground_phase(
    home: Home, index: _Index, client: MeshClient, src: Path, files: int, r: _Results
) -> int:
    before, cpu = await _timed_put(home, client, src)
    files += 1
    h = await _settle(index, files, 0.0, HEAL_TIMEOUT_S)
    print(f"healing: put without repair {mb_s(FILE_SIZE, before):.0f} MB/s; {cpu}", flush=True)
    victim, held = _heaviest(h)
    _, _, lost = await _kill_until_lost(home, index, victim)
    await _until(
        index,
        "repair under way",
        lambda h: h.bytes_to_repair > 0 and _outstanding(h) > 0,
        LOST_TIMEOUT_S,
    )
    print(
        f"healing: {victim} ({held / 1e6:.0f} MB) LOST, repair under way; putting again",
        flush=True,
    )
    low = [float("inf")]  # the least bytes_to_repair seen while the put ran

    async def watch() -> None:
        while True:
            h = await index.health()
            if h is not None:
                low[0] = min(low[0], h.bytes_to_repair)
            await asyncio.sleep(POLL_S)

    watcher = asyncio.create_task(watch())
    try:
        r.put_during_s, cpu = await _timed_put(home, client, src)
    finally:
        watcher.cancel()
    files += 1
    # The first health that counts the new file was computed after the put ended.
    h, _ = await _until(index, "the put's file in health", lambda h: h.files == files, 30.0)
    end_left = h.bytes_to_repair
    overlap = low[0] > 0 and end_left > 0
    print(
        f"healing: put during repair {mb_s(FILE_SIZE, r.put_during_s):.0f} MB/s; "
        f"{end_left / 1e6:.0f} MB still to repair when it ended; {cpu}"
        + ("" if overlap else " — WARNING: the repair did not overlap the whole put"),
        flush=True,
    )
    await _until(index, "repair", lambda h: _all_healthy(h, files), HEAL_TIMEOUT_S, progress=True)
    print(f"healing: repaired {time.monotonic() - lost:.0f} s after LOST", flush=True)
    after, cpu = await _timed_put(home, client, src)
    files += 1
    print(f"healing: put without repair again {mb_s(FILE_SIZE, after):.0f} MB/s; {cpu}", flush=True)
    r.put_without_s = (before, after)
    return files


async def _scenario(home: Home, src: Path) -> _Results:
    r = _Results()
    index = _Index(home)
    try:
        async with MeshClient(
            home.index_addresses(),
            home.identity(),
            credentials=local_client_tls(home).channel_credentials(),
        ) as client:
            start = time.perf_counter()
            for _ in range(USER_FILES):
                await _put(client, src)
            files = USER_FILES
            print(
                f"healing: {USER_FILES * FILE_SIZE >> 20} MiB of user data stored (R={REPLICAS}) "
                f"in {time.perf_counter() - start:.1f} s",
                flush=True,
            )
            victim = await _repair_phase(home, index, files, r)
            await _rebalance_phase(home, index, files, victim, r)
            await _foreground_phase(home, index, client, src, files, r)
    finally:
        await index.close()
    return r


def measure(work: Path, disk_mb_s: float) -> list[Figure]:
    """Run the healing part under `work` (its mesh and files are removed before returning)."""
    index_cfg, storage_cfg = IndexSettings(), StorageSettings()
    print(
        f"healing: {NODES} storage nodes; repair every {index_cfg.repair_interval_s:g} s, "
        f"planned at ≤ {index_cfg.repair_plan_rate_bytes_s / 1e6:.0f} MB/s (index), executed "
        f"at full speed when idle and ≤ {storage_cfg.repair_busy_rate_bytes_s / 1e6:.0f} MB/s "
        f"beside client traffic, {storage_cfg.repair_concurrency} jobs per node; "
        f"LOST after {DETECTOR_ENV['STRATOS_LOST_AFTER_S']} s",
        flush=True,
    )
    root = Path(tempfile.mkdtemp(prefix="healing-", dir=work))
    home = Home(root / "home")
    src_dir = Path(tempfile.mkdtemp(prefix="stratos-healing-", dir=TMPFS))
    try:
        src = make_file(src_dir / "healing.bin", FILE_SIZE)
        with _environment(DETECTOR_ENV):
            localmesh.up(home, storage_nodes=NODES, capacity_bytes=CAPACITY, validators=0)
            try:
                r = asyncio.run(_scenario(home, src))
            finally:
                localmesh.down(home)
    finally:
        shutil.rmtree(src_dir, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    without = statistics.mean(mb_s(FILE_SIZE, s) for s in r.put_without_s)
    return [
        Figure.against(
            "healing.repair_ratio",
            r.repair_s,
            "s",
            repair_bound_s(r.repaired_bytes, disk_mb_s),
            "ratio <= 2.0",
        ),
        Figure.against(
            "healing.rebalance_moved_ratio",
            r.moved_bytes / 1e6,
            "MB",
            optimal_join_bytes(r.stored_bytes, NODES + 1) / 1e6,
            "ratio <= 1.2",
        ),
        Figure.against(
            "healing.foreground_put_ratio",
            mb_s(FILE_SIZE, r.put_during_s),
            "MB/s",
            without,
            "ratio >= 0.7",
        ),
        Figure.against(
            "healing.repair_throughput",
            mb_s(r.repaired_bytes, r.repair_s),
            "MB/s",
            disk_mb_s,
            "",
        ),
    ]
