"""Durable small-file writes: write a temp file, fsync, rename over the target, fsync the folder.
A crash leaves either the old or the new content, never a torn file.

Only a regular file (or nothing) is ever renamed over: a symbolic link is followed, as cp does
(its target is replaced and the link stays a link, so a keyring kept in a dotfiles folder stays
there), and anything else is refused. The temp file gets a fresh name and is created with
O_EXCL, so a link planted where it will be is never followed."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from stratos.common.errors import FailedPrecondition


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically and durably (file created with `mode`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.stat(target).st_mode):
            raise FailedPrecondition(f"cannot write {path}: it is not a regular file")
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (best effort where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
