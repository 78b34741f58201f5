"""The disk's fsync'd sequential write bandwidth: the bound for storing chunks, measured the way
a storage node writes them (4 MiB files, each fsync'd before the next); and how many small
writes a second it can fsync, the bound for anything that syncs before acknowledging."""

from __future__ import annotations

import os
import time
from pathlib import Path

MiB = 1 << 20


def fsync_write_bandwidth(directory: Path, total: int = 256 * MiB, block: int = 4 * MiB) -> float:
    """MB/s (10^6 bytes per second) writing `total` bytes as fsync'd `block`-sized files."""
    directory.mkdir(parents=True, exist_ok=True)
    data = os.urandom(block)
    paths = []
    start = time.perf_counter()
    for i in range(total // block):
        p = directory / f"disk-bench-{i}"
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        paths.append(p)
    dfd = os.open(directory, os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)
    elapsed = time.perf_counter() - start
    for p in paths:
        p.unlink()
    return total / elapsed / 1e6


def fsync_small_write_rate(directory: Path, count: int = 200, block: int = 64 << 10) -> float:
    """Writes per second appending `block` bytes to one file, each fsync'd before the next."""
    directory.mkdir(parents=True, exist_ok=True)
    data = os.urandom(block)
    path = directory / "disk-bench-small"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        start = time.perf_counter()
        for _ in range(count):
            os.write(fd, data)
            os.fsync(fd)
        elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
        path.unlink()
    return count / elapsed
