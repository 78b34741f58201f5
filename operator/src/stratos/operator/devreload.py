"""Development only (skaffold's dev profile): run the operator and restart it when a synced
Python source changes, since kopf cannot reload handlers in place.

Polls modification times (no extra dependency); a restart is a fresh process via exec, so the
operator starts exactly as in production, resuming every cluster.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

POLL_S = 1.0


def snapshot(roots: Iterable[Path]) -> dict[Path, float]:
    out: dict[Path, float] = {}
    for root in roots:
        for path in root.rglob("*.py"):
            try:
                out[path] = path.stat().st_mtime
            except FileNotFoundError:  # replaced while we looked
                continue
    return out


def source_roots() -> list[Path]:
    import stratos.common
    import stratos.operator

    return [Path(stratos.operator.__file__).parent, Path(stratos.common.__file__).parent]


def main() -> None:
    roots = source_roots()
    while True:
        before = snapshot(roots)
        child = subprocess.Popen([sys.executable, "-m", "stratos.operator"])
        try:
            while child.poll() is None and snapshot(roots) == before:
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            child.terminate()
            sys.exit(child.wait())
        if child.poll() is None:
            print("devreload: sources changed, restarting the operator", file=sys.stderr)
            child.terminate()
            child.wait()
        else:
            # it exited on its own: wait for a change rather than crash-loop on a broken file
            while snapshot(roots) == before:
                time.sleep(POLL_S)


if __name__ == "__main__":
    main()
