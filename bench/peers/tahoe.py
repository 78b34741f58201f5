"""Tahoe-LAFS on loopback with three copies of every file: an introducer, three storage nodes
and a gateway node without storage whose web API the client uses, encoding 1-of-3 with all
three shares on different servers (`shares.needed = 1`, `happy = total = 3`: three full
copies). Each node lives in its own folder of one temp dir."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.peers.environment import PeerEnv
from bench.peers.processes import Daemons, wait_http
from stratos.common.procs import free_port, wait_until

HOST = "127.0.0.1"
STORAGE_NODES = 3
START_S = 120.0  # Twisted nodes on a busy 2-core machine start slowly


@dataclass(frozen=True)
class Tahoe:
    url: str  # the gateway's web API
    version: str
    daemons: Daemons
    setup: dict[str, list[str]]  # the `tahoe create-*` command of each node


def version(env: PeerEnv) -> str:
    out = subprocess.run(
        [str(env.tool("tahoe")), "--version"], capture_output=True, text=True, timeout=60
    )
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"


def _listen(port: int) -> list[str]:
    return ["--listen=tcp", f"--port=tcp:{port}:interface={HOST}", f"--location=tcp:{HOST}:{port}"]


def _connected_servers(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/?t=json", timeout=5) as answer:
            servers = json.load(answer).get("servers") or []
    except (OSError, ValueError):
        return 0
    states = [str(s.get("connection_status", "")).lower() for s in servers]
    return sum(1 for state in states if state.startswith("connected"))


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


@contextmanager
def running(env: PeerEnv, root: Path) -> Iterator[Tahoe]:
    tahoe = str(env.tool("tahoe"))
    setup: dict[str, list[str]] = {}

    def create(name: str, argv: list[str]) -> None:
        setup[name] = argv
        done = subprocess.run(argv, capture_output=True, text=True, timeout=START_S)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr or done.stdout}")

    root.mkdir(parents=True, exist_ok=True)
    with Daemons(root / "logs") as daemons:
        introducer = root / "introducer"
        create("introducer", [tahoe, "create-introducer", *_listen(free_port()), str(introducer)])
        daemons.start("introducer", [tahoe, "run", str(introducer)], root, hold_stdin=True)
        furl_file = introducer / "private" / "introducer.furl"
        wait_until(
            lambda: daemons.check_alive() or _read(furl_file).startswith("pb://"),
            timeout_s=START_S,
            what="the Tahoe introducer's fURL",
        )
        furl = _read(furl_file)
        for i in range(STORAGE_NODES):
            node = root / f"storage{i}"
            create(
                f"storage{i}",
                [tahoe, "create-node", f"--nickname=storage{i}", f"--introducer={furl}",
                 "--webport=none", *_listen(free_port()), str(node)],
            )  # fmt: skip
            daemons.start(f"storage{i}", [tahoe, "run", str(node)], root, hold_stdin=True)
        web = free_port()
        gateway = root / "gateway"
        create(
            "gateway",
            [tahoe, "create-client", "--nickname=gateway", f"--introducer={furl}",
             f"--webport=tcp:{web}:interface={HOST}", "--shares-needed=1", "--shares-happy=3",
             f"--shares-total={STORAGE_NODES}", str(gateway)],
        )  # fmt: skip
        daemons.start("gateway", [tahoe, "run", str(gateway)], root, hold_stdin=True)
        url = f"http://{HOST}:{web}"
        wait_http(daemons, url, "the Tahoe gateway's web API", timeout_s=START_S)
        wait_until(
            lambda: daemons.check_alive() or _connected_servers(url) >= STORAGE_NODES,
            timeout_s=START_S,
            what="the Tahoe gateway connected to three storage nodes",
        )
        yield Tahoe(url, version(env), daemons, setup)
