"""Durable small-file writes never destroy what is at the path: a symbolic link is followed and
stays a link, anything but a regular file is refused, and no link is followed for the temp file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from stratos.common.errors import FailedPrecondition
from stratos.common.files import write_atomic


def test_a_new_and_an_existing_file_are_written_with_nothing_left_beside_them(tmp_path) -> None:
    path = tmp_path / "state.json"
    write_atomic(path, b"one", mode=0o600)
    write_atomic(path, b"two", mode=0o600)
    assert path.read_bytes() == b"two" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_symlinked_file_is_written_through_and_the_link_stays(tmp_path: Path) -> None:
    """e.g. a keyring kept in a dotfiles folder: it used to become a regular file, and the
    real one silently stopped changing."""
    (tmp_path / "dotfiles").mkdir()
    real = tmp_path / "dotfiles" / "keyring.json"
    real.write_bytes(b"old")
    link = tmp_path / "keyring.json"
    link.symlink_to(real)
    write_atomic(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_a_fifo_or_a_folder_at_the_path_is_refused_and_left_alone(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    for name in ("fifo", "dir"):
        with pytest.raises(FailedPrecondition, match="is not a regular file"):
            write_atomic(tmp_path / name, b"x")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "fifo"]


def test_a_link_planted_at_the_old_temp_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "state.json.tmp").symlink_to(victim)
    write_atomic(tmp_path / "state.json", b"state")
    assert victim.read_bytes() == b"precious"
    assert (tmp_path / "state.json").read_bytes() == b"state"
