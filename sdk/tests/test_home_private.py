"""What STRATOS_HOME holds is its user's alone (issue 9): keys, the keyring, the local mesh's
state, the validators' block stores (with their -wal and -shm files), the data directories of
NATS and the storage nodes, genesis and logs. `keys/` used to be created 0755 and a validator's
chain.sqlite 0644; a home an older version left open is made private on next use."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from devharness import run_cli


def open_to_others(root: Path) -> list[str]:
    """Every file or directory under `root` (and `root`) that group or others may use."""
    found = _check(root)
    for top, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            found += _check(Path(top) / name)
    return found


def _check(path: Path) -> list[str]:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:  # a running mesh removes temp files as we walk
        return []
    if stat.S_ISLNK(mode) or not mode & 0o077:
        return []
    return [f"{path} {stat.filemode(mode)}"]


@pytest.mark.integration
def test_after_up_put_and_send_nothing_under_the_home_is_open_to_others(dev, tmp_path):
    dev.run("dev", "up", "--validators", "1")
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(300_000))
    dev.run("put", str(src))
    bob = dev.run("wallet", "new", "bob").stdout.strip()
    dev.run("send", bob, "1")
    run = dev.home.run_dir
    for made in (
        dev.home.keys_dir / "bob.pem",
        dev.home.keyring_file,
        run / "genesis.json",
        run / "validator-1" / "chain.sqlite-wal",
        run / "validator-1" / "chain.sqlite-shm",
        run / "nats" / "js",
        run / "storage-1" / "chunks",
        run / "logs" / "index.log",
    ):
        assert made.exists(), made  # the walk below sees what a user's session leaves
    assert open_to_others(dev.home.root) == []


def test_a_home_left_open_by_an_older_version_is_made_private_on_next_use(home, capsys, tmp_path):
    (home.keys_dir).mkdir(parents=True, mode=0o755)
    home.keys_dir.chmod(0o755)
    code, _out, _err = run_cli(capsys, "wallet", "new")
    assert code == 0
    key = home.keys_dir / "default.pem"
    key.chmod(0o644)
    home.keyring_file.write_text("{}")
    home.keyring_file.chmod(0o644)
    (home.run_dir / "validator-1").mkdir(parents=True)
    home.run_dir.chmod(0o755)
    code, _out, _err = run_cli(capsys, "wallet", "list")
    assert code == 0
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (home.keys_dir, key, home.run_dir)}
    assert modes == {"keys": 0o700, "default.pem": 0o600, "run": 0o700}
    assert stat.S_IMODE(home.keyring_file.stat().st_mode) == 0o600


def test_a_new_home_and_its_keys_are_created_private(home, capsys):
    code, _out, _err = run_cli(capsys, "wallet", "new", "alice")
    assert code == 0
    assert open_to_others(home.root) == []
