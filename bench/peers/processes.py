"""The peers' daemons as one group that always stops: each in its own session (so a signal
reaches whatever it forks), its output in a log file in its temp dir, stopped with SIGTERM and
then SIGKILL after a bounded grace, on the way out of a `with` block however it is left. Also
the CPU seconds a set of processes (and their children) has used, for the CPU-per-GiB figure."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from stratos.common.procs import wait_until

GRACE_S = 10.0


@dataclass
class Daemons:
    """The processes of one system, with the exact command line of each."""

    logs: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)

    def start(
        self, name: str, argv: list[str], cwd: Path, hold_stdin: bool = False
    ) -> subprocess.Popen:
        """Start `argv`; with `hold_stdin` its standard input is a pipe this process holds
        (Tahoe's nodes exit when theirs closes, so they also end if the harness is killed)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=subprocess.PIPE if hold_stdin else subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        self.commands[name] = [str(a) for a in argv]
        return proc

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs.values()]

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def stop(self, grace_s: float = GRACE_S) -> None:
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            _signal_group(proc, signal.SIGKILL)  # the group too: children a daemon forked
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            if proc.stdin:
                proc.stdin.close()

    def __enter__(self) -> Daemons:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of `pids` and every process below them, so far."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    t = p.cpu_times()
                    total += t.user + t.system
    return total


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return 200 <= answer.status < 500
    except urllib.error.HTTPError as e:
        return e.code < 500
    except OSError:
        return False


def wait_http(daemons: Daemons, url: str, what: str, timeout_s: float = 60.0) -> None:
    """Wait until `url` answers, failing early with the log when a daemon died."""

    def ready() -> bool:
        daemons.check_alive()
        return http_ok(url)

    wait_until(ready, timeout_s=timeout_s, interval_s=0.2, what=what)
