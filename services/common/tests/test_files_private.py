"""Private files and directories (issue 9): what Stratos creates is its user's alone, and what
an older version left open is closed again — without ever touching a directory the user named."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stratos.common.errors import ConfigError
from stratos.common.files import create_private_dirs, private_dir, tighten, write_atomic


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_missing_directories_and_their_parents_are_created_0700(tmp_path):
    old = os.umask(0o022)
    try:
        create_private_dirs(tmp_path / "a" / "b" / "c")
        write_atomic(tmp_path / "x" / "y" / "key.pem", b"k")
    finally:
        os.umask(old)
    for d in ("a", "a/b", "a/b/c", "x", "x/y"):
        assert mode(tmp_path / d) == 0o700, d
    assert mode(tmp_path / "x" / "y" / "key.pem") == 0o600


def test_existing_directories_are_left_alone_unless_stratos_owns_them(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    write_atomic(shared / "keyring.json", b"{}")  # the user's STRATOS_HOME stays as they made it
    assert mode(shared) == 0o755
    private_dir(shared / "run")
    (shared / "run").chmod(0o755)
    private_dir(shared / "run")  # ours: closed again
    assert mode(shared / "run") == 0o700


def test_tighten_only_takes_permissions_away_and_says_when_it_cannot(tmp_path, monkeypatch):
    f = tmp_path / "f"
    f.write_bytes(b"x")
    f.chmod(0o400)
    tighten(f, 0o600)
    assert mode(f) == 0o400  # already private: not widened
    f.chmod(0o644)

    def refuse(path, m):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)
    with pytest.raises(ConfigError, match=f"run 'chmod 600 {f}'"):
        tighten(f, 0o600)


def test_a_service_writes_with_a_private_umask(tmp_path):
    script = textwrap.dedent(
        f"""
        import os
        from stratos.common.lifecycle import run_service

        async def main(stop):
            open({str(tmp_path / "state")!r}, "w").close()
            os.mkdir({str(tmp_path / "data")!r})

        raise SystemExit(run_service(main))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert mode(tmp_path / "state") == 0o600 and mode(tmp_path / "data") == 0o700
