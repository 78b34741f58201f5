"""Where a get writes the plaintext, without ever destroying what the user pointed at.

`get -o /dev/full` used to exit 0 and replace the device with a regular file: the output was
written to `<out>.part` and renamed over whatever `<out>` was. Now the target decides:

- nothing there, or a regular file: a temporary file beside it, fsync'd, then linked (or renamed)
  into place — so a crash leaves the old file or the new one, never half of one. Only a regular
  file (or nothing) is ever replaced; a name the user did not choose (the file's own, in the
  current folder or in a folder given with -o) replaces nothing unless `force`.
- a symbolic link is followed, as cp does: its target is written and the link stays a link.
- a character device or a FIFO (and standard output, `-o -`): written through, in file order,
  each segment only once its GCM tag has verified, so a reader never gets unverified bytes;
  memory stays bounded by the fetch window. A write error (a full device, a reader gone) is one
  sentence.
- a folder: the file's sanitised name inside it. Anything else (a socket, a block device) is
  refused with a sentence.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import secrets
import stat as statmod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stratos.common.errors import DataLoss, FailedPrecondition, InvalidArgument, StratosError
from stratos.common.files import fsync_dir
from stratos.sdk import offload
from stratos.sdk.names import safe_name, shown

STDOUT = "-"  # `-o -`
FIFO_POLL_S = 0.05  # how often an output FIFO is tried while it has no reader yet
Produce = Callable[[], bytes | bytearray | memoryview]


def reason(err: OSError) -> str:
    """An OSError as the end of a sentence: "no space left on device"."""
    if isinstance(err, FileNotFoundError | NotADirectoryError):
        return "no such file"
    if isinstance(err, IsADirectoryError):
        return "is a directory"
    if isinstance(err, PermissionError):
        return "permission denied"
    if isinstance(err, BrokenPipeError):
        return "the reader closed the pipe"
    return (err.strerror or str(err)).lower()


# -- choosing the target (reads the file system, writes nothing) ------------------------------


@dataclass(frozen=True)
class Target:
    """What a get will write: a file put in place at the end, or a stream written through."""

    path: Path  # what the user is told ("-" for standard output)
    write_path: Path  # what is opened: the link's target for a regular file
    stream: bool
    replace: bool  # may an existing regular file at write_path be replaced?


def check_output(out: Path | str | None) -> None:
    """Refuse, before contacting anything, an output whose folder does not exist."""
    if out is None or str(out) == STDOUT:
        return
    out = Path(out)
    if not out.is_dir() and not out.parent.is_dir():
        raise InvalidArgument(
            f"cannot write {shown(str(out))}: the folder {shown(str(out.parent))} does not exist"
        )


def choose_target(out: Path | str | None, name: str, file_id: str, *, force: bool) -> Target:
    """Where to write a file stored as `name`: `out` as given, `<out>/<name>` when `out` is a
    folder, `./<name>` when it is None (the name sanitised by `names.safe_name`)."""
    if out is not None and str(out) == STDOUT:
        return Target(Path(STDOUT), Path(STDOUT), stream=True, replace=False)
    chosen = out is not None
    path = Path(out) if out is not None else Path(safe_name(name, file_id))
    if chosen and path.is_dir():
        path, chosen = path / safe_name(name, file_id), False
    try:
        st = os.stat(path)  # follows a symbolic link, as cp does
    except FileNotFoundError:
        if path.is_symlink():
            raise InvalidArgument(
                f"cannot write {shown(str(path))}: it is a symbolic link to nothing "
                f"({shown(os.readlink(path))})"
            ) from None
        if not path.parent.is_dir():
            raise InvalidArgument(
                f"cannot write {shown(str(path))}: the folder {shown(str(path.parent))} does "
                "not exist"
            ) from None
        return Target(path, path, stream=False, replace=chosen or force)
    except OSError as err:
        raise InvalidArgument(f"cannot write {shown(str(path))}: {reason(err)}") from None
    if not chosen and not force:
        raise FailedPrecondition(
            f"{shown(str(path))} already exists; pass --force to replace it, or -o to write "
            "somewhere else"
        )
    mode = st.st_mode
    if statmod.S_ISREG(mode):
        real = Path(os.path.realpath(path)) if path.is_symlink() else path
        return Target(path, real, stream=False, replace=True)
    if statmod.S_ISCHR(mode) or statmod.S_ISFIFO(mode):
        return Target(path, path, stream=True, replace=False)
    what = "a directory" if statmod.S_ISDIR(mode) else _kind(mode)
    raise InvalidArgument(
        f"cannot write {shown(str(path))}: it is {what}; give a file, a folder, a FIFO, "
        "a character device or - for standard output"
    )


def _kind(mode: int) -> str:
    if statmod.S_ISBLK(mode):
        return "a block device"
    if statmod.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


# -- writing --------------------------------------------------------------------------------


class FileSink:
    """A regular file: segments land at their offsets in a temporary file beside the target,
    which is put in place by `finish` only when complete."""

    def __init__(self, target: Target) -> None:
        self.target = target
        final = target.write_path
        part = f".{final.name}.{secrets.token_hex(4)}.part"
        if len(part.encode()) > 255:
            part = f".stratos-get.{secrets.token_hex(4)}.part"
        self.part = final.with_name(part)
        try:
            # O_EXCL: a name that exists (even as a link someone planted) is never opened
            self.fd = os.open(self.part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except OSError as err:
            raise InvalidArgument(f"cannot write {self._label}: {reason(err)}") from None
        self.written = 0

    @property
    def _label(self) -> str:
        return shown(str(self.target.path))

    def reserve(self, size: int) -> None:
        try:
            os.ftruncate(self.fd, size)
        except OSError as err:
            raise StratosError(f"cannot write {self._label}: {reason(err)}") from None

    async def write(self, index: int, offset: int, produce: Produce, size: int) -> None:
        """Decrypt (`produce`, about `size` bytes) and write at `offset` in one worker thread:
        pwrite and AES-GCM release the GIL, so this overlaps with receiving the next segment
        (a small segment, on the loop: `offload`)."""

        def work() -> int:
            data = memoryview(produce())
            n = len(data)
            while data:
                done = os.pwrite(self.fd, data, offset + (n - len(data)))
                data = data[done:]
            return n

        try:
            n = await offload.run(size, work)
        except OSError as err:
            raise StratosError(f"cannot write {self._label}: {reason(err)}") from None
        self.written += n

    async def flush(self) -> None:
        await asyncio.to_thread(os.fdatasync, self.fd)

    def finish(self, size: int, file_id: str) -> None:
        """fsync, check the size, then put the file in place (never over a non-regular file)."""
        try:
            os.fsync(self.fd)
        except OSError as err:
            raise StratosError(f"cannot write {self._label}: {reason(err)}") from None
        if os.fstat(self.fd).st_size != size or self.written != size:
            raise DataLoss(f"file {file_id} did not rebuild to its {size} bytes")
        os.close(self.fd)
        self.fd = -1
        self._put_in_place()
        fsync_dir(self.target.write_path.parent)

    def _put_in_place(self) -> None:
        final = self.target.write_path
        try:
            os.link(self.part, final)  # fails rather than replace anything
            os.unlink(self.part)
            return
        except FileExistsError:
            pass
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise StratosError(f"cannot write {self._label}: {reason(err)}") from None
            # a file system without hard links: check, then rename
        try:
            st = os.lstat(final)
        except FileNotFoundError:
            os.replace(self.part, final)
            return
        if not statmod.S_ISREG(st.st_mode):
            raise StratosError(
                f"cannot write {self._label}: something that is not a regular file appeared "
                "there while fetching; it was left alone"
            )
        if not self.target.replace:
            raise FailedPrecondition(
                f"{self._label} appeared while fetching; pass --force to replace it"
            )
        os.replace(self.part, final)

    def abort(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.part.unlink(missing_ok=True)


class StreamSink:
    """A pipe, FIFO or character device: written in file order, each segment only after it
    decrypted (its tag verified). A segment that arrives early waits, holding its fetch slot,
    so at most the fetch window is ever held in memory."""

    def __init__(self, fd: int, label: str, *, owned: bool) -> None:
        self.fd = fd
        self.label = label
        self.owned = owned
        self.next_index = 0
        self.written = 0
        self._turn = asyncio.Condition()

    @classmethod
    async def open(cls, target: Target) -> StreamSink:
        if str(target.path) == STDOUT:
            return cls(1, "standard output", owned=False)
        path = target.write_path
        label = shown(str(target.path))
        while True:
            try:
                # O_NONBLOCK so that a FIFO with no reader yet fails (ENXIO) instead of
                # blocking a thread that Ctrl-C could not stop
                fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
                break
            except OSError as err:
                if err.errno == errno.ENXIO and statmod.S_ISFIFO(os.stat(path).st_mode):
                    await asyncio.sleep(FIFO_POLL_S)  # waiting for a reader, as cat would
                    continue
                raise InvalidArgument(f"cannot write {label}: {reason(err)}") from None
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return cls(fd, label, owned=True)

    def reserve(self, size: int) -> None:
        return None

    async def write(self, index: int, offset: int, produce: Produce, size: int) -> None:
        data = await offload.run(size, produce)  # decrypting verifies the tag
        async with self._turn:
            await self._turn.wait_for(lambda: self.next_index == index)
        try:
            await asyncio.to_thread(_write_all, self.fd, data)
        except OSError as err:
            raise StratosError(f"cannot write {self.label}: {reason(err)}") from None
        self.written += len(data)
        async with self._turn:
            self.next_index = index + 1
            self._turn.notify_all()

    async def flush(self) -> None:
        return None

    def finish(self, size: int, file_id: str) -> None:
        if self.written != size:
            raise DataLoss(f"file {file_id} did not rebuild to its {size} bytes")
        if statmod.S_ISREG(os.fstat(self.fd).st_mode):
            try:  # standard output redirected to a file: make it durable like any other
                os.fsync(self.fd)
            except OSError as err:
                raise StratosError(f"cannot write {self.label}: {reason(err)}") from None
        self.abort()

    def abort(self) -> None:
        if self.owned and self.fd >= 0:
            os.close(self.fd)
        self.fd = -1


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


Sink = FileSink | StreamSink


async def open_sink(target: Target) -> Sink:
    return await StreamSink.open(target) if target.stream else FileSink(target)
