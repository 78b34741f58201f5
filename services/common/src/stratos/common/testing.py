"""Test support shared by every tier: a real nats-server with JetStream on a loopback port, or a
cluster of them. (Tests run real components; there is no NATS fake.)"""

from __future__ import annotations

import json
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from stratos.common.procs import free_port, nats_config, nats_server_binary, port_open, wait_until


@dataclass
class NatsProcess:
    url: str
    port: int
    store_dir: Path
    proc: subprocess.Popen
    monitor_port: int = 0
    extra_config: str = field(default="", repr=False)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def restart(self) -> None:
        """Start again on the same port and store (after kill)."""
        self.proc = _spawn(self.port, self.monitor_port, self.store_dir, self.extra_config)

    def monitor(self, path: str) -> dict:
        """A monitoring endpoint's JSON (`varz`, `jsz`, ...): what the running server reports."""
        url = f"http://127.0.0.1:{self.monitor_port}/{path}"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.load(resp)


def _spawn(port: int, monitor_port: int, store_dir: Path, extra: str = "") -> subprocess.Popen:
    conf = store_dir / "nats.conf"
    conf.write_text(nats_config(port, monitor_port, store_dir / "js") + extra)
    proc = subprocess.Popen(
        [nats_server_binary(), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: port_open("127.0.0.1", port), timeout_s=15, what="nats-server")
    return proc


@contextmanager
def nats_server(store_dir: Path | None = None) -> Iterator[NatsProcess]:
    """A real nats-server with JetStream, killed on exit."""
    with tempfile.TemporaryDirectory(prefix="stratos-nats-") as tmp:
        root = store_dir or Path(tmp)
        port, monitor_port = free_port(), free_port()
        proc = _spawn(port, monitor_port, root)
        n = NatsProcess(f"nats://127.0.0.1:{port}", port, root, proc, monitor_port)
        try:
            yield n
        finally:
            n.proc.kill()
            n.proc.wait(10)


def _jetstream_ready(server: NatsProcess) -> bool:
    """The server answers health checks with JetStream up and a meta leader elected."""
    try:
        return server.monitor("healthz?js-enabled-only=true").get("status") == "ok" and bool(
            server.monitor("jsz").get("meta_cluster", {}).get("leader")
        )
    except OSError:
        return False


@contextmanager
def nats_cluster(size: int = 3) -> Iterator[list[NatsProcess]]:
    """`size` nats-servers on loopback routed into one JetStream cluster (each with the same
    config as a single server, plus a name and its routes); every one is killed on exit."""
    with tempfile.TemporaryDirectory(prefix="stratos-nats-cluster-") as tmp, ExitStack() as stack:
        route_ports = [free_port() for _ in range(size)]
        routes = ", ".join(f"nats://127.0.0.1:{p}" for p in route_ports)
        servers: list[NatsProcess] = []
        for i, route_port in enumerate(route_ports):
            root = Path(tmp) / f"n{i}"
            root.mkdir()
            extra = (
                f"server_name: n{i}\n"
                f'cluster {{ name: stratos-test, listen: "127.0.0.1:{route_port}", '
                f"routes: [{routes}] }}\n"
            )
            port, monitor_port = free_port(), free_port()
            proc = _spawn(port, monitor_port, root, extra)
            server = NatsProcess(f"nats://127.0.0.1:{port}", port, root, proc, monitor_port, extra)
            stack.callback(server.kill)
            servers.append(server)
        for s in servers:
            wait_until(lambda s=s: _jetstream_ready(s), timeout_s=60, what="a JetStream cluster")
        yield servers
