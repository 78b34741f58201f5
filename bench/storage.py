"""Storage figures on a real local mesh (nats-server, index, 3 storage nodes as processes):
put and get throughput through the SDK, the CLI's peak RSS for a 1 GiB put, and the storage
nodes' peak RSS."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from stratos.sdk import localmesh
from stratos.sdk.client import MeshClient
from stratos.sdk.home import Home

MiB = 1 << 20


def make_file(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, 4 * MiB)
            f.write(os.urandom(n))
            left -= n
    return path


async def _put_get(home: Home, src: Path, out: Path) -> tuple[float, float]:
    async with MeshClient(home.index_addresses(), home.identity()) as client:
        start = time.perf_counter()
        put = await client.put(src, replicas=3)
        put_s = time.perf_counter() - start
        start = time.perf_counter()
        await client.get(put.capability, out)
        get_s = time.perf_counter() - start
    return src.stat().st_size / put_s / 1e6, src.stat().st_size / get_s / 1e6


def put_get_throughput(home: Home, work: Path, size: int = 256 * MiB) -> tuple[float, float]:
    """(put MB/s with R=3, get MB/s) of a `size`-byte file, plaintext bytes per second."""
    src = make_file(work / "bench-256.bin", size)
    out = work / "bench-256.out"
    try:
        return asyncio.run(_put_get(home, src, out))
    finally:
        src.unlink(missing_ok=True)
        out.unlink(missing_ok=True)


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
