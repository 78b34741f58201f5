"""The Stratos side: a local mesh started the way `make bench` starts it (`localmesh.up`, 3
storage nodes, no validators, TLS on as always), in its own temp dir, and always stopped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path

import psutil

from stratos.sdk import localmesh
from stratos.sdk.home import Home

STORAGE_NODES = 3
CAPACITY_BYTES = 64 << 30


@dataclass(frozen=True)
class Mesh:
    home: Home
    version: str
    launcher: str  # the call that started it, as `make bench` and `stratos dev up` do

    def daemons(self) -> dict[str, int]:
        return {row.name: row.pid for row in localmesh.status(self.home) if row.pid}

    def commands(self) -> dict[str, list[str]]:
        """Each running daemon's exact command line, as the launcher spawned it."""
        return {name: psutil.Process(pid).cmdline() for name, pid in self.daemons().items()}


def _version() -> str:
    import subprocess

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
    ).stdout.strip()
    return f"stratos-sdk {package_version('stratos-sdk')} (git {commit or 'unknown'})"


@contextmanager
def running(root: Path) -> Iterator[Mesh]:
    home = Home(root / "home")
    try:
        localmesh.up(home, storage_nodes=STORAGE_NODES, capacity_bytes=CAPACITY_BYTES, validators=0)
        launcher = (
            f"stratos.sdk.localmesh.up(Home({str(home.root)!r}), "
            f"storage_nodes={STORAGE_NODES}, capacity_bytes={CAPACITY_BYTES}, validators=0)"
        )
        yield Mesh(home, _version(), launcher)
    finally:
        localmesh.down(home)
