"""Group commit of directory fsyncs: concurrent chunk writes into one directory share a sync.

A chunk is durable once its file's data and its directory entry (the rename into `chunks/`)
are on disk, so every write fsyncs its file and then the directory. The file fsync is the
write's own; the directory fsync need not be: one that *starts* after a write's rename covers
that rename, and every other rename made before it started. So writers that arrive while a
sync of their directory is running wait for the next one, which the first of them starts as
soon as the running one ends — N concurrent writes cost two directory fsyncs, not N, and no
write is acknowledged before a sync that began after its rename has succeeded. A failed sync
fails every write it was to cover (a later success cannot vouch for them: after an fsync
error the kernel may already have dropped the dirty state it was about to write).

Blocking, like the chunk store it serves (called from its worker threads).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Round:
    """One directory fsync and the writes waiting on it."""

    __slots__ = ("done", "error", "writes")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None
        self.writes = 0  # how many writes it covers


class _Dir:
    __slots__ = ("next", "running")

    def __init__(self) -> None:
        self.running: _Round | None = None  # the sync in flight (it may predate a new rename)
        self.next: _Round | None = None  # the writes that wait for the sync after it


class DirSync:
    """Directory fsyncs shared by the writes that ask for them at the same time."""

    def __init__(self, fsync: Callable[[Path], None] = fsync_dir) -> None:
        self._fsync = fsync
        self._cond = threading.Condition()
        self._dirs: dict[Path, _Dir] = {}  # bounded: chunks/ and its 256 prefix directories

    def sync(self, path: Path) -> None:
        """Return once a fsync of `path` that began after this call has succeeded; raise the
        error of the one that was to cover it otherwise."""
        with self._cond:
            state = self._dirs.setdefault(path, _Dir())
            if state.next is None:
                state.next = _Round()
            mine = state.next
            mine.writes += 1
            while not mine.done and state.running is not None:
                self._cond.wait()
            if not mine.done:  # nothing in flight: lead our round, covering every write in it
                state.running, state.next = mine, None
        if mine.done:
            if mine.error is not None:
                raise mine.error
            return
        error: BaseException | None = None
        try:
            self._fsync(path)
        except BaseException as err:  # whatever it is, the waiters must not hang on it
            error = err
        with self._cond:
            mine.done, mine.error = True, error
            state.running = None
            self._cond.notify_all()
        if error is not None:
            raise error

    def waiting(self, path: Path) -> int:
        """How many writes wait for the next sync of `path` (for tests and diagnostics)."""
        with self._cond:
            state = self._dirs.get(path)
            return state.next.writes if state is not None and state.next is not None else 0
