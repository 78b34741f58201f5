"""Durable small-file writes, and private files and directories.

`write_atomic` writes a temp file, fsyncs, renames it over the target and fsyncs the folder: a
crash leaves either the old or the new content, never a torn file. Only a regular file (or
nothing) is ever renamed over: a symbolic link is followed, as cp does (its target is replaced
and the link stays a link, so a keyring kept in a dotfiles folder stays there), and anything
else is refused. The temp file gets a fresh name and is created with O_EXCL, so a link planted
where it will be is never followed.

Everything a Stratos process keeps on disk — keys, keyrings, chunks, block stores, logs — is
readable by its own user only (issue 9): every service and the launcher's children run with
PRIVATE_UMASK, files holding keys are created 0600 explicitly, directories are created 0700
(`create_private_dirs`), and `private_dir` / `tighten` also take group and other permissions
away from ones an older version left open."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from stratos.common.errors import ConfigError, FailedPrecondition

PRIVATE_UMASK = 0o077


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically and durably (file created with `mode`; missing
    parent directories are created 0700)."""
    create_private_dirs(path.parent)
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


def create_private_dirs(path: Path) -> None:
    """Create `path` and any missing parents with mode 0700 (unlike `mkdir -p`, which gives the
    parents the umask's mode); directories that exist are left as they are."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter: created 0700 (parents too) when missing,
    group and other permissions taken away when it exists. Only for directories Stratos owns —
    never a directory the user named, such as STRATOS_HOME itself, which may be shared."""
    create_private_dirs(path)
    tighten(path, 0o700)
    return path


def tighten(path: Path, mode: int) -> None:
    """chmod `path` to `mode` if it exists and group or other have any permission on it; a
    sentence naming it when that is not allowed."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if not st.st_mode & 0o077:
        return
    try:
        os.chmod(path, mode)
    except OSError as exc:
        raise ConfigError(
            f"{path} can be read by other users and cannot be made private ({exc.strerror}); "
            f"run 'chmod {mode:o} {path}'"
        ) from None
