"""The content-addressed chunk store on local disk.

A chunk lives at `<data_dir>/chunks/<id[:2]>/<id>`, where the ID is the BLAKE3 of its bytes, so
the store can prove every byte it keeps and every byte it returns. Writes go to `tmp/`, are hashed
while they stream in, fsync'd and renamed into place: a chunk is either fully stored and verified
or absent. The directory fsync that makes a rename durable is shared by the writes that land at
the same time (`dirsync`); each write still returns only once one begun after its rename is
done. Copies found corrupt on read are moved to `quarantine/` for an operator to look at.

All I/O here is blocking on purpose (plain files, no event loop); the gRPC edge calls it through
worker threads. Pieces are at most `PIECE_BYTES`, so memory stays bounded whatever the chunk size.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from stratos.common.errors import (
    ChunkCorrupt,
    ChunkNotFound,
    DataLoss,
    InvalidArgument,
    ResourceExhausted,
    TooLarge,
)
from stratos.common.hashing import is_chunk_id, new_hasher
from stratos.common.logging import get_logger
from stratos.common.shown import shown
from stratos.storage.dirsync import DirSync

log = get_logger(__name__)

PIECE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StoreStat:
    node_id: str
    capacity_bytes: int
    used_bytes: int
    reserved_bytes: int
    chunk_count: int


@dataclass(frozen=True)
class StoredChunk:
    """One chunk as `list_chunks` reports it; `stored_unix_ms` is its file's mtime."""

    chunk_id: str
    size: int
    stored_unix_ms: int


@dataclass(frozen=True)
class PutResult:
    chunk_id: str
    size: int
    already_present: bool


def check_chunk_id(chunk_id: str) -> None:
    """Refuse anything that is not a chunk ID before it can become a path."""
    if not isinstance(chunk_id, str) or not is_chunk_id(chunk_id):
        raise InvalidArgument(
            f"{shown(chunk_id)} is not a chunk ID (64 lowercase hex characters of a BLAKE3 hash)"
        )


def _hash_fd(fd: int, size: int) -> str:
    """BLAKE3 of the first `size` bytes of an open file, read through one reused buffer."""
    hasher = new_hasher()
    buf = bytearray(PIECE_BYTES)
    view = memoryview(buf)
    offset = 0
    while offset < size:
        n = os.preadv(fd, [view[: min(PIECE_BYTES, size - offset)]], offset)
        if n == 0:  # the file shrank under us: it cannot match
            break
        hasher.update(view[:n])
        offset += n
    return hasher.hexdigest()


class ChunkStore:
    """Chunks on disk with capacity accounting; safe to call from several threads at once."""

    def __init__(
        self,
        data_dir: Path,
        *,
        node_id: str,
        capacity_bytes: int,
        max_chunk_bytes: int | None = None,
        dir_sync: DirSync | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        # The rename is only durable once the directory entry itself reaches the disk.
        self._dir_sync = dir_sync or DirSync()
        self.node_id = node_id
        self.capacity_bytes = capacity_bytes
        self.max_chunk_bytes = max_chunk_bytes
        self.chunks_dir = self.data_dir / "chunks"
        self.tmp_dir = self.data_dir / "tmp"
        self.quarantine_dir = self.data_dir / "quarantine"
        # Guards the counters and every rename/unlink under chunks/, so counts match the disk.
        self._lock = threading.Lock()
        self._used = 0
        self._reserved = 0
        # Size of every stored chunk as it was verified on the way in (~130 bytes per chunk):
        # a file that shrinks or grows on disk must not skew the accounting when it goes.
        self._sizes: dict[bytes, int] = {}
        for d in (self.chunks_dir, self.tmp_dir, self.quarantine_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._recover()

    # -- start-up -------------------------------------------------------------------------

    def _recover(self) -> None:
        """Drop writes a crash interrupted and count what is really stored."""
        cleared = 0
        for leftover in self.tmp_dir.iterdir():
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
            cleared += 1
        sizes: dict[bytes, int] = {}
        for prefix in self.chunks_dir.iterdir():
            if not prefix.is_dir():
                continue
            for entry in prefix.iterdir():
                if is_chunk_id(entry.name) and entry.name[:2] == prefix.name and entry.is_file():
                    sizes[bytes.fromhex(entry.name)] = entry.stat().st_size
        self._sizes = sizes
        self._used = sum(sizes.values())
        # The prefix directories there now are durable once chunks/ is synced; a new one is
        # synced into chunks/ by the first write that needs it (and any write racing that one).
        self._dir_sync.sync(self.chunks_dir)
        self._durable_prefixes = {p.name for p in self.chunks_dir.iterdir() if p.is_dir()}
        log.info(
            "storage_opened",
            data_dir=str(self.data_dir),
            used_bytes=self._used,
            chunk_count=len(sizes),
            tmp_cleared=cleared,
        )

    # -- queries ---------------------------------------------------------------------------

    def path_of(self, chunk_id: str) -> Path:
        check_chunk_id(chunk_id)
        return self.chunks_dir / chunk_id[:2] / chunk_id

    def stat(self) -> StoreStat:
        with self._lock:
            return StoreStat(
                self.node_id, self.capacity_bytes, self._used, self._reserved, len(self._sizes)
            )

    def has(self, chunk_ids: Iterable[str]) -> list[bool]:
        paths = [self.path_of(c) for c in chunk_ids]  # validate all before answering any
        return [p.is_file() for p in paths]

    def list_chunks(self, start_after: str = "") -> Iterator[StoredChunk]:
        """Every stored chunk after `start_after`, in chunk ID order, read lazily.

        The layout makes this cheap in memory: prefix directories are walked in order and only
        one of them (about 1/256 of the IDs) is listed at a time. Files in `tmp/` and
        `quarantine/` are not chunks and never appear; neither does anything under `chunks/`
        that is not a chunk file in its own prefix directory. A chunk deleted while the walk
        runs is skipped. A bad `start_after` is refused here, before the walk starts."""
        if start_after:
            check_chunk_id(start_after)
        return self._walk(start_after)

    def _walk(self, start_after: str) -> Iterator[StoredChunk]:
        try:
            prefixes = sorted(
                p.name
                for p in os.scandir(self.chunks_dir)
                if len(p.name) == 2 and p.name >= start_after[:2] and p.is_dir()
            )
        except FileNotFoundError:
            return
        for prefix in prefixes:
            try:
                with os.scandir(self.chunks_dir / prefix) as it:
                    names = sorted(
                        e.name
                        for e in it
                        if e.name > start_after and e.name[:2] == prefix and is_chunk_id(e.name)
                    )
            except FileNotFoundError:
                continue
            for name in names:
                try:
                    st = os.stat(self.chunks_dir / prefix / name)
                except FileNotFoundError:
                    continue
                if not S_ISREG(st.st_mode):
                    continue
                yield StoredChunk(name, st.st_size, st.st_mtime_ns // 1_000_000)

    # -- writes ----------------------------------------------------------------------------

    def begin(self, chunk_id: str, size: int) -> ChunkWriter:
        """Start storing `size` bytes claimed to hash to `chunk_id`; capacity is reserved now."""
        path = self.path_of(chunk_id)
        if size < 0:
            raise InvalidArgument(f"chunk {chunk_id}: size {size} is negative")
        if self.max_chunk_bytes is not None and size > self.max_chunk_bytes:
            raise TooLarge(
                f"chunk {chunk_id}",
                size,
                self.max_chunk_bytes,
                holder=f"storage node {self.node_id}",
                unit=" bytes",
            )
        stored_size = self._intact_size(chunk_id, path)
        if stored_size is not None:
            if stored_size != size:
                raise InvalidArgument(
                    f"chunk {chunk_id} is {stored_size} bytes, not the announced {size}"
                )
            # Written again: refresh its time, so a DELETE planned before this write (garbage
            # collection of what looked like an orphan) leaves it alone.
            with contextlib.suppress(FileNotFoundError):
                os.utime(path)
            return ChunkWriter(self, chunk_id, size, tmp_path=None)
        self._reserve(size)
        tmp_path = self.tmp_dir / f"{chunk_id}.{uuid.uuid4().hex}.part"
        try:
            return ChunkWriter(self, chunk_id, size, tmp_path=tmp_path)
        except BaseException:
            self._release(size)
            raise

    def put(self, chunk_id: str, data: bytes) -> PutResult:
        """Store a chunk held in memory (small chunks, tests, repair of tiny pieces)."""
        with self.begin(chunk_id, len(data)) as writer:
            view = memoryview(data)
            for start in range(0, len(data), PIECE_BYTES):
                writer.write(view[start : start + PIECE_BYTES])
            return writer.commit()

    def _reserve(self, size: int) -> None:
        with self._lock:
            if self._used + self._reserved + size > self.capacity_bytes:
                raise ResourceExhausted(
                    f"storage node {self.node_id} is full: {self._used} bytes stored and "
                    f"{self._reserved} reserved of {self.capacity_bytes}; a {size}-byte chunk "
                    "does not fit"
                )
            self._reserved += size

    def _release(self, size: int) -> None:
        with self._lock:
            self._reserved -= size

    def _install(self, tmp_path: Path, chunk_id: str, size: int) -> bool:
        """Rename a verified, fsync'd temp file into place and count it; True when a copy was
        already there."""
        final = self.chunks_dir / chunk_id[:2] / chunk_id
        final.parent.mkdir(exist_ok=True)
        key = bytes.fromhex(chunk_id)
        with self._lock:
            os.replace(tmp_path, final)
            old_size = self._sizes.get(key)
            self._sizes[key] = size
            self._reserved -= size
            self._used += size - (old_size or 0)
        return old_size is not None

    def _make_durable(self, chunk_id: str) -> None:
        self._dir_sync.sync(self.chunks_dir / chunk_id[:2])
        prefix = chunk_id[:2]
        if prefix not in self._durable_prefixes:  # every writer until its entry is synced
            self._dir_sync.sync(self.chunks_dir)
            self._durable_prefixes.add(prefix)

    def _intact_size(self, chunk_id: str, path: Path) -> int | None:
        """Size of the stored copy when it is intact; a corrupt copy is quarantined (→ None)."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            st = os.fstat(fd)
            if _hash_fd(fd, st.st_size) == chunk_id:
                return st.st_size
            self._quarantine(chunk_id, st.st_ino)
            return None
        finally:
            os.close(fd)

    # -- reads -----------------------------------------------------------------------------

    def open_reader(self, chunk_id: str, offset: int = 0, length: int = 0) -> ChunkReader:
        """Verify the whole stored chunk, then return a reader of [offset, offset+length).

        `length` 0 means to the end; a range running past the end is cut at the end."""
        path = self.path_of(chunk_id)
        if offset < 0 or length < 0:
            raise InvalidArgument(f"chunk {chunk_id}: offset and length must not be negative")
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise ChunkNotFound(chunk_id, self.node_id) from None
        try:
            st = os.fstat(fd)
            if offset > st.st_size:
                raise InvalidArgument(
                    f"offset {offset} is past the end of chunk {chunk_id} ({st.st_size} bytes)"
                )
            end = st.st_size if length == 0 else min(st.st_size, offset + length)

            def corrupt() -> DataLoss:
                self._quarantine(chunk_id, st.st_ino)
                return ChunkCorrupt(chunk_id, self.node_id)

            if offset == 0 and end == st.st_size:
                # A whole-chunk read is verified as it is read, in one pass: the reader holds
                # back the last piece until the hash matches, so a corrupt chunk is never
                # delivered complete (this halved the node's reads and hashing per get).
                return ChunkReader(fd, st.st_size, offset, end, verify=(chunk_id, corrupt))
            if _hash_fd(fd, st.st_size) != chunk_id:
                raise corrupt()
            # The reader keeps this descriptor: it serves exactly the bytes just verified even
            # if the path is replaced or deleted meanwhile.
            return ChunkReader(fd, st.st_size, offset, end)
        except BaseException:
            os.close(fd)
            raise

    def read(self, chunk_id: str, offset: int = 0, length: int = 0) -> Iterator[bytes]:
        """Pieces of at most PIECE_BYTES of a verified range (errors raise here, not lazily)."""
        reader = self.open_reader(chunk_id, offset, length)
        return reader.pieces()

    def _quarantine(self, chunk_id: str, inode: int) -> None:
        final = self.chunks_dir / chunk_id[:2] / chunk_id
        dest = self.quarantine_dir / f"{chunk_id}.{time.time_ns()}"
        with self._lock:
            try:
                st = final.stat()
            except FileNotFoundError:
                return
            if st.st_ino != inode:
                return  # a good copy replaced the bad one while we were hashing
            os.replace(final, dest)
            self._used -= self._sizes.pop(bytes.fromhex(chunk_id), 0)
        log.error("chunk_quarantined", chunk_id=chunk_id, size=st.st_size, moved_to=str(dest))

    # -- deletes ---------------------------------------------------------------------------

    def delete(self, chunk_id: str, *, unless_written_after_ms: int | None = None) -> bool:
        """Remove a chunk; False when it was not stored, or (with `unless_written_after_ms`)
        when it was written after that time — a delete planned before a writer stored the same
        bytes again must not take them away."""
        path = self.path_of(chunk_id)
        with self._lock:
            if unless_written_after_ms is not None:
                try:
                    written_ms = path.stat().st_mtime_ns // 1_000_000
                except FileNotFoundError:
                    return False
                if written_ms > unless_written_after_ms:
                    return False
            self._used -= self._sizes.pop(bytes.fromhex(chunk_id), 0)
            try:
                path.unlink()
            except FileNotFoundError:
                return False
        return True


class ChunkWriter:
    """One chunk being written: pieces are hashed and appended as they come, never buffered.

    Use as a context manager (or call `abort`) so a failed or abandoned write leaves nothing."""

    def __init__(self, store: ChunkStore, chunk_id: str, size: int, tmp_path: Path | None):
        self.store = store
        self.chunk_id = chunk_id
        self.size = size
        self.received = 0
        # No temp file when an intact copy is stored already: the stream is only counted.
        self.already_present = tmp_path is None
        self._tmp_path = tmp_path
        self._hasher = new_hasher()
        # write/commit run in worker threads while abort may come from a cancelled call.
        self._lock = threading.Lock()
        self._done = False
        self._fd = (
            os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            if tmp_path is not None
            else -1
        )

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()

    def write(self, piece: bytes | memoryview) -> None:
        with self._lock:
            if self._done:
                raise InvalidArgument(f"chunk {self.chunk_id}: the write is already finished")
            n = len(piece)
            if self.received + n > self.size:
                self._discard()
                raise InvalidArgument(
                    f"chunk {self.chunk_id}: more bytes arrived than the announced {self.size}"
                )
            self.received += n
            if self.already_present:
                return
            self._hasher.update(piece)
            view = memoryview(piece)
            try:
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
            except OSError as err:
                self._discard()
                raise self._disk_error(err) from None

    def commit(self) -> PutResult:
        """Check length and hash, make the chunk durable, and only then report success."""
        with self._lock:
            if self._done:
                raise InvalidArgument(f"chunk {self.chunk_id}: the write is already finished")
            if self.received != self.size:
                self._discard()
                raise InvalidArgument(
                    f"chunk {self.chunk_id}: {self.received} bytes arrived, "
                    f"{self.size} were announced"
                )
            if self.already_present:
                self._done = True
                return PutResult(self.chunk_id, self.size, True)
            digest = self._hasher.hexdigest()
            if digest != self.chunk_id:
                self._discard()
                raise InvalidArgument(
                    f"the bytes sent for chunk {self.chunk_id} hash to {digest}; nothing was stored"
                )
            try:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1
                assert self._tmp_path is not None
                existed = self.store._install(self._tmp_path, self.chunk_id, self.size)
            except OSError as err:
                self._discard()
                raise self._disk_error(err) from None
            except BaseException:
                self._discard()
                raise
            # Installed and counted: from here a failure must not release the reservation again.
            self._tmp_path = None
            self._done = True
            self.store._make_durable(self.chunk_id)
            return PutResult(self.chunk_id, self.size, existed)

    def _disk_error(self, err: OSError) -> Exception:
        # The capacity setting can promise more than the disk really has left.
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return ResourceExhausted(
                f"storage node {self.store.node_id} is full: its disk has no space left"
            )
        return err

    def abort(self) -> None:
        """Forget the write: temp file removed, reservation released. Safe to call twice."""
        with self._lock:
            if not self._done:
                self._discard()

    def _discard(self) -> None:
        self._done = True
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._tmp_path is not None:
            self._tmp_path.unlink(missing_ok=True)
            self.store._release(self.size)
            self._tmp_path = None


class ChunkReader:
    """A chunk's open file, read in pieces over [offset, end): either verified before the first
    piece, or (`verify`) hashed as it is read with the last piece released only on a match."""

    def __init__(
        self,
        fd: int,
        total_size: int,
        offset: int,
        end: int,
        *,
        verify: tuple[str, Callable[[], Exception]] | None = None,
    ) -> None:
        self.total_size = total_size
        self.offset = offset
        self.end = end
        self._pos = offset
        self._fd = fd
        self._verify = verify
        self._hasher = new_hasher() if verify else None
        # A read runs in a worker thread while a dropped call may close the reader: the close
        # waits for it, so a read never lands on a descriptor number the process has reused
        # (its bytes would fail the hash and quarantine the good copy).
        self._lock = threading.Lock()

    @property
    def position(self) -> int:
        """Where the next piece starts."""
        return self._pos

    def read_piece(self, size: int = PIECE_BYTES) -> bytes:
        """The next piece (at most `size` bytes); b"" once the range is done or the reader
        closed."""
        with self._lock:
            return self._read_piece(size)

    def _read_piece(self, size: int) -> bytes:
        if self._fd < 0 or self._pos >= self.end:
            if self._verify and self._pos == self.end == self.offset:  # an empty chunk
                self._check_hash()
            return b""
        data = os.pread(self._fd, min(size, self.end - self._pos), self._pos)
        if not data:
            raise DataLoss("a chunk shrank while it was being read")
        self._pos += len(data)
        if self._hasher is not None:
            self._hasher.update(data)
            if self._pos >= self.end:
                self._check_hash()
        return data

    def _check_hash(self) -> None:
        assert self._verify is not None
        chunk_id, corrupt = self._verify
        self._verify = None
        hasher = self._hasher or new_hasher()
        if hasher.hexdigest() != chunk_id:
            raise corrupt()

    def pieces(self) -> Iterator[bytes]:
        try:
            while piece := self.read_piece():
                yield piece
        finally:
            self.close()

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
