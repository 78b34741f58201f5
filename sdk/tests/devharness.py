"""The harness of the CLI's integration tests: runs `stratos …` as a user would, against one
temporary STRATOS_HOME, and makes sure nothing a test started outlives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil

from stratos.sdk import localmesh
from stratos.sdk.cli import app
from stratos.sdk.home import Home
from stratos.sdk.meshtls import local_client_tls

# Fast heartbeats so storage nodes are LIVE (and a killed one SUSPECT) within seconds.
FAST_ENV = {
    "STRATOS_HEARTBEAT_INTERVAL_S": "0.5",
    "STRATOS_SUSPECT_AFTER_S": "2",
    "STRATOS_LOST_AFTER_S": "6",
}


class Dev:
    """Runs `stratos …` as a user would, against one temporary home."""

    def __init__(self, root: Path) -> None:
        self.home = Home(root)
        self.env = {**os.environ, **FAST_ENV, "STRATOS_HOME": str(root)}
        for var in (
            "STRATOS_INDEX_ADDRESS",
            "STRATOS_CONSENSUS_ADDRESS",
            "STRATOS_DEBUG",
            "STRATOS_TLS_CA_FILE",  # the CLI would call another mesh with it
        ):
            self.env.pop(var, None)

    def run(self, *args: str, check: bool = True, timeout: float = 120):
        proc = subprocess.run(
            [sys.executable, "-m", "stratos.sdk", *args],
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

    def json(self, *args: str):
        return json.loads(self.run(*args, "--json").stdout)

    def status(self) -> dict[str, dict]:
        return {r["name"]: r for r in self.json("dev", "status")}

    def channel_credentials(self):
        """The mesh's TLS as its user holds it (the client certificate `dev up` made)."""
        return local_client_tls(self.home).channel_credentials()

    def mesh(self) -> dict:
        return json.loads(self.home.mesh_file.read_text())

    def close(self) -> None:
        """Stop the mesh; every process it ever recorded must be gone afterwards."""
        pids = (
            [p["pid"] for p in self.mesh()["processes"] if p["pid"]]
            if self.home.mesh_file.exists()
            else []
        )
        localmesh.down(self.home)
        assert all(gone(pid) for pid in pids)


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for its parent: it runs no more."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in-process: (exit code, stdout, stderr)."""
    code = app.run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_sentence(code: int, err: str, *fragments: str) -> None:
    """What a user must get for bad input: exit 1, one `error:` line, no traceback."""
    assert code == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    for frag in fragments:
        assert frag in lines[0], lines[0]
