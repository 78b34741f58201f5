"""Storage figures on a real local mesh (nats-server, index, 3 storage nodes as processes):
put and get throughput through the SDK, the CPU-seconds per GiB that get costs the client and
the daemons, the CLI's peak RSS for a 1 GiB put, and the storage nodes' peak RSS. Small files
have their own module (`small_files`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import CpuMeter, CpuSpent
from stratos.sdk import localmesh
from stratos.sdk.client import MeshClient
from stratos.sdk.home import Home
from stratos.sdk.meshfile import require
from stratos.sdk.meshtls import local_client_tls

MiB = 1 << 20
GiB = 1 << 30
TMPFS = "/dev/shm"


def _credentials(home: Home):
    return local_client_tls(home).channel_credentials()


def make_file(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, 4 * MiB)
            f.write(os.urandom(n))
            left -= n
    # write the source out now: its dirty pages would otherwise be flushed in the middle of
    # the measured put and get and be counted against them
    os.sync()
    return path


@dataclass(frozen=True)
class Throughput:
    """Plaintext MB/s of one file: put with R=3, get into memory (tmpfs), get onto the disk;
    and what the get into memory cost in CPU-seconds per GiB, the client (this process) and
    every daemon of the mesh (nats-server, index, storage nodes)."""

    put: float
    get: float
    get_to_disk: float
    get_cpu: CpuSpent
    size: int

    @property
    def get_client_cpu_s_per_gib(self) -> float:
        return self.get_cpu.client * GiB / self.size

    @property
    def get_cpu_s_per_gib(self) -> float:
        return self.get_cpu.total * GiB / self.size

    @property
    def get_storage_cpu_s_per_gib(self) -> float:
        """The storage nodes' share (all of them together): what serving the bytes cost."""
        nodes = sum(s for name, s in self.get_cpu.daemons.items() if name.startswith("storage"))
        return nodes * GiB / self.size


def daemon_pids(home: Home) -> dict[str, int]:
    """name → pid of every running process of the local mesh under `home`."""
    return {rec.name: rec.pid for rec in require(home) if rec.pid}


async def _put_get(home: Home, src: Path, out_tmpfs: Path, out_disk: Path) -> Throughput:
    size = src.stat().st_size
    mb = size / 1e6
    async with MeshClient(
        home.index_addresses(), home.identity(), credentials=_credentials(home)
    ) as client:
        start = time.perf_counter()
        put = await client.put(src, replicas=3)
        put_s = time.perf_counter() - start
        with CpuMeter(daemon_pids(home)) as meter:
            start = time.perf_counter()
            await client.get(put.capability, out_tmpfs)
            get_s = time.perf_counter() - start
        os.sync()  # nothing of the first get left to flush during the second
        start = time.perf_counter()
        await client.get(put.capability, out_disk)
        disk_s = time.perf_counter() - start
    return Throughput(
        put=mb / put_s,
        get=mb / get_s,
        get_to_disk=mb / disk_s,
        get_cpu=meter.spent,
        size=size,
    )


def put_get_throughput(home: Home, work: Path, size: int = 256 * MiB) -> Throughput:
    """Put a `size`-byte file, then get it twice: into a tmpfs, which measures the mesh's read
    path (the figure against loopback gRPC), and onto the work disk, which on a VM is capped by
    the disk's write bandwidth (reported beside it, against the disk bound)."""
    src = make_file(work / "bench-256.bin", size)
    out_disk = work / "bench-256.out"
    out_tmpfs = Path(tempfile.mkdtemp(prefix="stratos-bench-", dir=TMPFS)) / "bench-256.out"
    try:
        return asyncio.run(_put_get(home, src, out_tmpfs, out_disk))
    finally:
        src.unlink(missing_ok=True)
        out_disk.unlink(missing_ok=True)
        shutil.rmtree(out_tmpfs.parent, ignore_errors=True)


def cli_put_peak_rss_mb(home: Home, work: Path, size: int = 1024 * MiB) -> float:
    """Peak RSS (MB) of `stratos put` storing a `size`-byte file, from the kernel's rusage."""
    src = make_file(work / "bench-1g.bin", size)
    env = dict(os.environ, STRATOS_HOME=str(home.root))
    try:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "stratos"), "put", str(src), "--json"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"stratos put failed: {proc.stderr.read().decode()[-500:]}")
        return usage.ru_maxrss * 1024 / 1e6
    finally:
        src.unlink(missing_ok=True)


def storage_nodes_peak_rss_mb(home: Home) -> float:
    """The largest peak RSS (VmHWM, MB) among the running storage nodes."""
    peak = 0
    for row in localmesh.status(home):
        if _get(row, "kind") != "storage" or not _get(row, "pid"):
            continue
        try:
            for line in Path(f"/proc/{_get(row, 'pid')}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        except FileNotFoundError:
            continue
    return peak / 1e6


def _get(row, key):
    return row[key] if isinstance(row, dict) else getattr(row, key)
