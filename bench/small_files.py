"""Small-file figures (issue 12 part 2): 64 KiB puts and gets per second through the SDK, with
one client and with eight at once, each client a persistent MeshClient doing one operation at a
time, R=3. The four workloads run in turns, round after round, so the machine's noise falls on
all of them alike; each figure is the median of its rounds.

A put is a placement, three chunk writes (each fsync'd, file and directory, before it is
acknowledged) and the index's commit (JetStream writes, each fsync'd before they are
acknowledged); a get is the manifest with its tickets and one chunk read. Gets land on a tmpfs,
so the figure is the mesh's read path, not the work disk's."""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stratos.sdk.client import MeshClient
from stratos.sdk.home import Home
from stratos.sdk.meshtls import local_client_tls

SIZE = 64 << 10
TMPFS = "/dev/shm"


@dataclass(frozen=True)
class SmallRates:
    """Operations per second, each the median of the rounds."""

    put_1: float
    put_8: float
    get_1: float
    get_8: float


def _client(home: Home) -> MeshClient:
    credentials = local_client_tls(home).channel_credentials()
    return MeshClient(home.index_addresses(), home.identity(), credentials=credentials)


async def _run(clients: list[MeshClient], jobs: list, work: Callable) -> float:
    """`jobs` shared out among `clients` (each does one at a time); operations per second."""
    queue = list(reversed(jobs))
    done: list = []

    async def worker(client: MeshClient) -> None:
        while queue:
            job = queue.pop()
            done.append(await work(client, job))

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    return len(jobs) / (time.perf_counter() - start)


async def _measure(home: Home, sources: list[Path], out: Path, rounds: int, count: int):
    clients = [_client(home) for _ in range(8)]
    try:
        # warm up every client's channels (and the index's and nodes' first-use paths)
        warm = [await c.put(sources[i], replicas=3) for i, c in enumerate(clients)]
        for c, w in zip(clients, warm, strict=True):
            await c.get(w.capability, out / "warm", force=True)
        rates: dict[str, list[float]] = {"put_1": [], "put_8": [], "get_1": [], "get_8": []}
        stored: list[str] = [w.capability for w in warm]
        left = sources[len(clients) :]

        async def put(client: MeshClient, src: Path) -> None:
            stored.append((await client.put(src, replicas=3)).capability)

        async def get(client: MeshClient, cap: str) -> None:
            await client.get(cap, out / f"{cap[-8:]}.out", force=True)

        for _ in range(rounds):
            for n in (1, 8):
                batch, left = left[:count], left[count:]
                rates[f"put_{n}"].append(await _run(clients[:n], batch, put))
                rates[f"get_{n}"].append(await _run(clients[:n], stored[-count:], get))
        return SmallRates(**{k: statistics.median(v) for k, v in rates.items()})
    finally:
        for c in clients:
            await c.close()


def small_file_rates(home: Home, work: Path, rounds: int = 3, count: int = 60) -> SmallRates:
    """Puts and gets per second of distinct 64 KiB files on the running mesh at `home`."""
    folder = work / "small"
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for i in range(8 + rounds * 2 * count):
        path = folder / f"small-{i}.bin"
        path.write_bytes(os.urandom(SIZE))
        sources.append(path)
    os.sync()
    out = Path(tempfile.mkdtemp(prefix="stratos-bench-small-", dir=TMPFS))
    try:
        return asyncio.run(_measure(home, sources, out, rounds, count))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
