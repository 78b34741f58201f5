"""CPU-seconds a piece of work costs, in this process and in the mesh's daemons (issue 12: "a
large get spends its CPU on crypto and I/O"): the kernel's own accounting — rusage for this
process, /proc/<pid>/stat for each daemon — read before and after, so nothing is sampled."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float | None:
    """User + system seconds `pid` has run so far; None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuSpent:
    """CPU-seconds of this process (`client`) and of each daemon by name."""

    client: float
    daemons: dict[str, float]

    @property
    def total(self) -> float:
        return self.client + sum(self.daemons.values())


class CpuMeter:
    """`with CpuMeter(pids) as m: work()`, then `m.spent`: what the work cost this process and
    each daemon (name → pid) that ran throughout."""

    def __init__(self, daemons: dict[str, int]) -> None:
        self._pids = daemons
        self.spent = CpuSpent(0.0, {})

    def __enter__(self) -> CpuMeter:
        self._before = {name: process_cpu_s(pid) for name, pid in self._pids.items()}
        self._self_before = self_cpu_s()
        return self

    def __exit__(self, *exc: object) -> None:
        client = self_cpu_s() - self._self_before
        daemons = {}
        for name, pid in self._pids.items():
            before, after = self._before[name], process_cpu_s(pid)
            if before is not None and after is not None:
                daemons[name] = after - before
        self.spent = CpuSpent(client, daemons)
