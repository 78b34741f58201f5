"""The workloads of the comparison, run against every system interleaved: in each repetition
every system in turn (the order rotated from one repetition to the next, so none always goes
first on a cold or a warm machine), on the same fresh random data, each system's client a
persistent process (`protocol.Worker`).

Fresh data in each repetition because Tahoe's convergent encryption would store a second upload
of the same bytes as nothing; the same data for every system within one, so all write the same.
The system's dirty pages are flushed (`os.sync`) after each step, outside the timings, so that
no system's writes are flushed during the next one's measurement. A download counts as done
once it is fsync'd, file and folder, for every system: `stratos get` does so before it reports
a file written, and the peers' clients (`worker_http.durable`) are timed to the same point —
until this was so, the large get timed Stratos's writes to disk and the peers' to the page
cache, and counted the write-back's CPU for Stratos alone."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.peers.processes import cpu_seconds
from bench.peers.protocol import Worker
from bench.storage import make_file

MiB = 1 << 20
GiB = 1 << 30
TMPFS = "/dev/shm"

# the figures of each system, in the order of the table
PUT_LARGE = "put_large_MB_s"
GET_LARGE = "get_large_to_disk_MB_s"
PUT_SMALL = "put_small_ops_s"
GET_SMALL_1 = "get_small_ops_s_1_client"
GET_SMALL_8 = "get_small_ops_s_8_clients"
CPU_GET_LARGE = "get_large_cpu_s_per_GiB"
WORKLOADS = (PUT_LARGE, GET_LARGE, PUT_SMALL, GET_SMALL_1, GET_SMALL_8, CPU_GET_LARGE)


@dataclass(frozen=True)
class Sizes:
    large: int = 256 * MiB
    small: int = 64 << 10
    small_puts: int = 100
    small_gets: int = 200  # each client count does this many gets, cycling over the keys
    repetitions: int = 3
    concurrent_clients: int = 8


QUICK = Sizes(large=4 * MiB, small_puts=10, small_gets=20, repetitions=1)


@dataclass
class System:
    """One system under test: its client process and the daemons whose CPU it costs."""

    name: str
    worker: Worker
    daemon_pids: list[int]


@dataclass
class Samples:
    """Every measurement: samples[workload][system] = one value per repetition."""

    values: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {w: {} for w in WORKLOADS}
    )

    def add(self, workload: str, system: str, value: float) -> None:
        self.values[workload].setdefault(system, []).append(value)


def rotated(systems: list[System], repetition: int) -> list[System]:
    k = repetition % len(systems)
    return systems[k:] + systems[:k]


def _data(folder: Path, sizes: Sizes) -> tuple[Path, list[Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    large = make_file(folder / "large.bin", sizes.large)  # syncs what it wrote
    small = []
    for i in range(sizes.small_puts):
        path = folder / f"small-{i}.bin"
        path.write_bytes(os.urandom(sizes.small))
        small.append(path)
    os.sync()
    return large, small


def measure_one(system: System, large: Path, small: list[Path], work: Path, sizes: Sizes,
                add: Callable[[str, str, float], None]) -> None:  # fmt: skip
    """Every workload once against `system`."""
    w, name = system.worker, system.name
    put = w.call("put_file", path=str(large))
    add(PUT_LARGE, name, sizes.large / 1e6 / put.wall_s)
    os.sync()

    out = work / f"{name}-large.out"
    daemons_before = cpu_seconds(system.daemon_pids)
    get = w.call("get_file", key=put.result, dest=str(out))
    daemons_cpu = cpu_seconds(system.daemon_pids) - daemons_before
    add(GET_LARGE, name, sizes.large / 1e6 / get.wall_s)
    add(CPU_GET_LARGE, name, (daemons_cpu + get.cpu_s) / (sizes.large / GiB))
    if out.stat().st_size != sizes.large:
        raise RuntimeError(f"{name} returned {out.stat().st_size} bytes, not {sizes.large}")
    out.unlink()
    os.sync()

    puts = w.call("put_files", paths=[str(p) for p in small])
    add(PUT_SMALL, name, len(small) / puts.wall_s)
    os.sync()

    for clients, workload in ((1, GET_SMALL_1), (sizes.concurrent_clients, GET_SMALL_8)):
        dest = Path(tempfile.mkdtemp(prefix="stratos-peers-", dir=TMPFS))
        try:
            gets = w.call(
                "get_keys", keys=puts.result, count=sizes.small_gets, dest_dir=str(dest),
                clients=clients,
            )  # fmt: skip
            got = sum(1 for _ in dest.iterdir())
            if got != sizes.small_gets:
                raise RuntimeError(f"{name} wrote {got} of {sizes.small_gets} small gets")
            add(workload, name, sizes.small_gets / gets.wall_s)
        finally:
            shutil.rmtree(dest, ignore_errors=True)


def warm_up(system: System, work: Path) -> None:
    """One unmeasured small put and get, so that no system's first measured put pays for what
    a first write costs it once (SeaweedFS grows its volumes then, the clients connect)."""
    src = work / "warm-up.bin"
    src.write_bytes(os.urandom(64 << 10))
    key = system.worker.call("put_file", path=str(src)).result
    out = work / f"{system.name}-warm-up.out"
    system.worker.call("get_file", key=key, dest=str(out))
    out.unlink()


def run(systems: list[System], work: Path, sizes: Sizes, log: Callable[[str], None]) -> Samples:
    samples = Samples()
    for system in systems:
        warm_up(system, work)
    for rep in range(sizes.repetitions):
        data = work / f"data-{rep}"
        large, small = _data(data, sizes)
        try:
            for system in rotated(systems, rep):
                log(f"repetition {rep + 1}/{sizes.repetitions}: {system.name}")
                measure_one(system, large, small, work, sizes, samples.add)
        finally:
            shutil.rmtree(data, ignore_errors=True)
    return samples
