"""End-to-end tier: the real `stratos` CLI against a real local mesh (nats-server, index,
storage nodes as separate processes) in a temporary STRATOS_HOME — what a user runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stratos.common.procs import wait_until

BIN = Path(sys.executable).parent
# Fast failure detection so fault tests finish quickly; the defaults are for real deployments.
FAST_ENV = {
    "STRATOS_HEARTBEAT_INTERVAL_S": "0.5",
    "STRATOS_SUSPECT_AFTER_S": "2",
    "STRATOS_LOST_AFTER_S": "6",
}


def pytest_collection_modifyitems(items):
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.integration)


@dataclass
class Mesh:
    home: Path
    env: dict[str, str]

    def stratos(self, *args: str, timeout: float = 120, check: bool = False):
        """Run the CLI; returns the CompletedProcess (text)."""
        proc = subprocess.run(
            [str(BIN / "stratos"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"stratos {' '.join(args)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc

    def json(self, *args: str, timeout: float = 120):
        return json.loads(self.stratos(*args, "--json", timeout=timeout, check=True).stdout)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [str(BIN / "stratos"), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def status(self) -> dict[str, dict]:
        rows = self.json("dev", "status")
        rows = rows["processes"] if isinstance(rows, dict) else rows
        return {r["name"]: r for r in rows}

    def storage_state(self, name: str) -> str:
        return str(self.status()[name].get("state", "")).lower()

    def wait_state(self, name: str, *states: str, timeout_s: float = 30) -> None:
        """Wait until the index reports `name` in one of `states` (a slow poll on a loaded
        machine can miss a short-lived state, e.g. suspect before lost)."""
        wait_until(
            lambda: any(s in self.storage_state(name) for s in states),
            timeout_s=timeout_s,
            interval_s=0.5,
            what=f"{name} to be {' or '.join(states)}",
        )

    def data_dir(self, name: str) -> Path:
        return self.home / "run" / name

    def chunk_files(self, name: str) -> list[Path]:
        root = self.data_dir(name) / "chunks"
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def start_mesh(home: Path, nodes: int, **extra_env: str) -> Mesh:
    env = dict(os.environ)
    env.update(FAST_ENV)
    env.update(extra_env)
    env["STRATOS_HOME"] = str(home)
    env.pop("STRATOS_INDEX_ADDRESS", None)
    mesh = Mesh(home, env)
    # storage faults are tested without validators: their blocks would only add CPU noise on
    # a 2-core machine (the chain has its own tests: services/consensus, sdk/tests/test_chain_mesh)
    mesh.stratos(
        "dev", "up", "--storage-nodes", str(nodes), "--validators", "0", timeout=180, check=True
    )
    return mesh


@pytest.fixture
def mesh_factory() -> Iterator:
    """Start meshes on demand; every one is torn down (processes killed) at the end."""
    started: list[Mesh] = []
    tmp = tempfile.TemporaryDirectory(prefix="stratos-e2e-")

    def make(nodes: int = 3, **extra_env: str) -> Mesh:
        home = Path(tmp.name) / f"home{len(started)}"
        mesh = start_mesh(home, nodes, **extra_env)
        started.append(mesh)
        return mesh

    try:
        yield make
    finally:
        for m in started:
            m.stratos("dev", "down", timeout=60)
        tmp.cleanup()


def random_file(path: Path, size: int, seed: int = 0) -> Path:
    """A file of `size` pseudo-random bytes, written in 1 MiB pieces."""
    import random

    rng = random.Random(seed)
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n
    return path


def same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


async def connect_nats_as_admin(home: Path, url: str):
    """A NATS connection with the mesh owner's admin user: the worst case of a compromised or
    misconfigured NATS account, which may publish and read anything. What the mesh refuses
    then rests on signatures and tickets alone, not on NATS permissions (strangers without a
    user cannot connect at all: sdk/tests/test_localmesh_nats.py)."""
    from stratos.common.nats_credentials import read_credentials
    from stratos.common.natsutil import NatsLogin, connect

    auth, ca = home / "run" / "nats-auth", home / "run" / "tls" / "ca.pem"  # the mesh's one CA
    login = NatsLogin(read_credentials(auth / "users" / "admin.nk"), str(ca))
    return await connect(url, name="compromised-account", login=login, connect_deadline_s=10)
