"""Group commit of directory fsyncs: writes share them, and none is acknowledged before a sync
that began after its rename (and its own file fsync) has succeeded."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stratos.common.hashing import chunk_id
from stratos.common.procs import wait_until
from stratos.storage import chunkstore
from stratos.storage.chunkstore import ChunkStore
from stratos.storage.dirsync import DirSync, fsync_dir

WRITERS = 8


class Log:
    """An ordered record of calls, fsync starts and ends, and returns, across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, int]] = []

    def add(self, kind: str, n: int) -> int:
        with self.lock:
            self.events.append((kind, n))
            return len(self.events) - 1


def test_concurrent_writers_share_syncs_and_each_waits_for_one_begun_after_it(
    tmp_path: Path,
) -> None:
    log = Log()
    release_first = threading.Event()
    syncs: list[int] = []

    def slow_fsync(path: Path) -> None:
        syncs.append(len(syncs) + 1)
        k = syncs[-1]
        log.add("start", k)
        if k == 1:  # hold the first sync until every other writer has queued behind it
            release_first.wait(30)
        fsync_dir(path)
        log.add("end", k)

    dirs = DirSync(slow_fsync)

    def writer(i: int) -> None:
        log.add("call", i)
        dirs.sync(tmp_path)
        log.add("return", i)

    with ThreadPoolExecutor(WRITERS) as pool:
        first = pool.submit(writer, 0)
        wait_until(lambda: syncs, what="the first sync to start")
        rest = [pool.submit(writer, i) for i in range(1, WRITERS)]
        wait_until(lambda: dirs.waiting(tmp_path) == WRITERS - 1, what="the other writers to queue")
        release_first.set()
        for f in [first, *rest]:
            f.result(30)

    assert len(syncs) == 2  # the first writer's, then one for the seven that came meanwhile
    at = {e: n for n, e in enumerate(log.events)}
    for i in range(WRITERS):
        called, returned = at[("call", i)], at[("return", i)]
        assert any(called < at[("start", k)] and at[("end", k)] < returned for k in (1, 2)), (
            f"writer {i} returned without a sync that began after it"
        )


def test_a_failed_sync_fails_the_writes_it_covered_and_a_later_one_is_tried_afresh(
    tmp_path: Path,
) -> None:
    calls = [0]

    def flaky(path: Path) -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise OSError(5, "Input/output error")
        fsync_dir(path)

    dirs = DirSync(flaky)
    with pytest.raises(OSError, match="Input/output"):
        dirs.sync(tmp_path)
    dirs.sync(tmp_path)  # a new write gets a new sync, not the failed one's verdict
    assert calls[0] == 2


def test_every_acknowledged_chunk_had_its_file_and_its_directory_entry_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a crash right after an acknowledgement would keep: the chunk's file data (fsync'd
    by inode) and its name (a directory fsync that started with the name already in place and
    ended before the acknowledgement). Concurrent writes share those directory fsyncs."""
    lock = threading.Lock()
    synced_inodes: set[int] = set()
    dir_syncs: list[tuple[set[str], threading.Event]] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        with lock:
            synced_inodes.add(os.fstat(fd).st_ino)

    def recording_dir_fsync(path: Path) -> None:
        names = set(os.listdir(path))  # what this sync covers: the entries present as it starts
        done = threading.Event()
        with lock:
            dir_syncs.append((names, done))
        fsync_dir(path)
        done.set()

    monkeypatch.setattr(chunkstore.os, "fsync", recording_fsync)
    store = ChunkStore(
        tmp_path, node_id="n", capacity_bytes=1 << 30, dir_sync=DirSync(recording_dir_fsync)
    )
    # the same prefix for all: they contend for one directory
    payloads = [p for p in (os.urandom(256) for _ in range(8000)) if chunk_id(p)[:2] == "ab"][:16]
    assert len(payloads) >= 8

    def put(data: bytes) -> str:
        cid = chunk_id(data)
        store.put(cid, data)
        # acknowledged: check what a crash now would keep
        with lock:
            assert store.path_of(cid).stat().st_ino in synced_inodes
            assert any(cid in names and done.is_set() for names, done in dir_syncs)
        return cid

    with ThreadPoolExecutor(WRITERS) as pool:
        stored = list(pool.map(put, payloads))

    assert store.has(stored) == [True] * len(stored)
