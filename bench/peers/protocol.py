"""How the harness talks to a system's client process: one JSON line per request on its
standard input, one per answer on its standard output.

Every system's client is a persistent process of its own (Stratos's in the workspace's Python,
the peers' in theirs, where boto3 lives), so each client's CPU is counted the same way: the
process's own user + system time across the operation, taken by the client itself right around
it, as is the wall time. Standard library only: the peers' Python imports it too."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Op = Callable[..., Any]


def serve(ops: dict[str, Op]) -> None:
    """Answer requests until standard input closes; a failed operation answers its error."""
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing a library prints may break the protocol
    for line in sys.stdin:
        request = json.loads(line)
        op = ops[request["op"]]
        cpu, start = time.process_time(), time.perf_counter()
        try:
            result = op(**request.get("args", {}))
        except Exception as e:
            answer = {"error": f"{type(e).__name__}: {e}"}
        else:
            answer = {
                "wall_s": time.perf_counter() - start,
                "cpu_s": time.process_time() - cpu,
                "result": result,
            }
        out.write(json.dumps(answer) + "\n")
        out.flush()


@dataclass(frozen=True)
class Answer:
    wall_s: float
    cpu_s: float  # the client process's own CPU during the operation
    result: Any


class Worker:
    """The harness's end: a client process started from `argv`, asked one operation at a time."""

    def __init__(self, argv: list[str], cwd: Path, log: Path) -> None:
        self.argv = [str(a) for a in argv]
        self._log = log.open("ab")
        self._proc = subprocess.Popen(
            self.argv,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self._proc.pid

    def call(self, op: str, **args: Any) -> Answer:
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the client {self.argv[-1]} exited with {self._proc.wait()}")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.argv[-1]} {op}: {answer['error']}")
        return Answer(answer["wall_s"], answer["cpu_s"], answer["result"])

    def close(self, timeout_s: float = 10.0) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        if self._proc.stdout:
            self._proc.stdout.close()
        self._log.close()
