"""CLI start-up figures (issue 9): how long the real `stratos` console script takes, as a user
runs it, against fixed bounds — a command should answer in a fraction of a second.

- `cli.startup_help_s`: `stratos --help`, the median of `RUNS` runs (bound 0.3 s).
- `cli.startup_ls_s`: `stratos ls` against the running local mesh, the median of `RUNS` runs
  (bound 0.6 s): start-up, one ListFiles call and the table.

Each run is timed from spawn to exit. On a machine busy with other work the wall time grows
with the wait for a core, so each figure's CPU time (user + system, from the kernel's rusage of
the child) is reported beside it, without a bound: `cli.startup_help_cpu_s`, `cli.startup_ls_cpu_s`.
 Python compiles every module it imports unless it finds
the bytecode cached; an installed package has it (pip compiles at install, Python caches on first
run) but PYTHONDONTWRITEBYTECODE, set on some machines, forbids the cache. The runs therefore use
a private bytecode cache (PYTHONPYCACHEPREFIX, warmed by one unmeasured run), which is what a
user's install sees, and which leaves no `__pycache__` in the tree."""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results import Figure
from stratos.sdk.home import Home

RUNS = 9
HELP_BOUND_S = 0.3
LS_BOUND_S = 0.6


def console_script() -> Path:
    script = Path(sys.executable).parent / "stratos"
    if not script.exists():
        raise SystemExit(f"{script} is missing: run 'make install'")
    return script


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median_run_s(args: list[str], env: dict[str, str], runs: int = RUNS) -> tuple[float, float]:
    """Median wall and CPU seconds of `stratos ARGS` over `runs` runs, after one unmeasured
    warm-up."""
    cmd = [str(console_script()), *args]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)
    wall, cpu = [], []
    for _ in range(runs):
        cpu_before, start = _children_cpu_s(), time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)
        wall.append(time.perf_counter() - start)
        cpu.append(_children_cpu_s() - cpu_before)
    return statistics.median(wall), statistics.median(cpu)


def _env(home: Home, cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=cache, STRATOS_HOME=str(home.root))
    for var in ("STRATOS_INDEX_ADDRESS", "STRATOS_CONSENSUS_ADDRESS"):
        env.pop(var, None)
    return env


def measure(home: Home) -> list[Figure]:
    """Both figures; `home` must hold a running local mesh (for `ls`)."""
    cache = tempfile.mkdtemp(prefix="stratos-bench-pyc-")
    try:
        env = _env(home, cache)
        help_s, help_cpu_s = median_run_s(["--help"], env)
        ls_s, ls_cpu_s = median_run_s(["ls"], env)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return [
        Figure.against("cli.startup_help_s", help_s, "s", HELP_BOUND_S, "ratio <= 1"),
        Figure.against("cli.startup_ls_s", ls_s, "s", LS_BOUND_S, "ratio <= 1"),
        Figure("cli.startup_help_cpu_s", round(help_cpu_s, 3), "s", None, None),
        Figure("cli.startup_ls_cpu_s", round(ls_cpu_s, 3), "s", None, None),
    ]
