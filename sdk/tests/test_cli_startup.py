"""Start-up of the real `stratos` console script (issue 9): what it imports, and `--version`.

Every library named in HEAVY costs a tenth of a second or more to import, and `stratos --help`
took over a second when it imported them all. The guard is on imports, not on the clock, so a
machine busy with other work cannot fail it; `make bench` reports the times (bench/cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

HEAVY = (
    "asyncio",
    "cryptography",
    "google.protobuf",
    "grpc",
    "nats",
    "opentelemetry",
    "psutil",
    "pydantic",
    "rich",
    "structlog",
)
# What a command that talks to the mesh needs, and what it must still never import: nor the
# launcher's modules (its NATS set-up and certificate authority), only to say the index is down.
NEVER_FOR_A_CLIENT = (
    "nats",
    "opentelemetry",
    "structlog",
    "stratos.sdk.localmesh",
    "stratos.sdk.meshnats",
)


def run_script(*args: str, home: Path) -> tuple[str, set[str]]:
    """stdout of `stratos ARGS`, and every module it imported (from `python -X importtime`)."""
    script = Path(sys.executable).parent / "stratos"
    assert script.exists(), "the stratos console script is missing: run 'make install'"
    env = {**os.environ, "STRATOS_HOME": str(home)}
    for var in ("STRATOS_INDEX_ADDRESS", "STRATOS_CONSENSUS_ADDRESS", "STRATOS_DEBUG"):
        env.pop(var, None)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    return proc.stdout, modules


def heavy(modules: set[str], names: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_none_of_the_heavy_libraries(tmp_path, args):
    _out, modules = run_script(*args, home=tmp_path)
    assert "typer" in modules  # the parse really was seen
    assert heavy(modules) == []


@pytest.mark.parametrize("args", [["dev", "--help"], ["put", "--help"], ["chain", "--help"]])
def test_a_command_s_help_imports_no_network_crypto_or_terminal_library(tmp_path, args):
    out, modules = run_script(*args, home=tmp_path)
    assert "Usage: stratos" in out
    # typer itself brings pydantic along to parse a command's options
    assert heavy(modules, tuple(n for n in HEAVY if n != "pydantic")) == []


def test_version_prints_the_installed_package_version(tmp_path):
    out, _modules = run_script("--version", home=tmp_path)
    assert out.strip() == f"stratos {version('stratos-sdk')}"


@pytest.mark.integration
def test_ls_against_a_mesh_imports_no_tracing_logging_or_nats_library(dev, tmp_path):
    dev.run("dev", "up", "--validators", "0")
    (tmp_path / "listed.txt").write_bytes(b"x")
    dev.run("put", str(tmp_path / "listed.txt"))
    out, modules = run_script("ls", home=dev.home.root)
    assert "listed.txt" in out  # the index really was asked
    assert heavy(modules, NEVER_FOR_A_CLIENT) == []
