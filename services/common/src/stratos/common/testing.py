"""Test support shared by every tier: a real nats-server with JetStream on a loopback port.
(Tests run real components; there is no NATS fake.)"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stratos.common.procs import free_port, nats_config, nats_server_binary, port_open, wait_until


@dataclass
class NatsProcess:
    url: str
    port: int
    store_dir: Path
    proc: subprocess.Popen

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def restart(self) -> None:
        """Start again on the same port and store (after kill)."""
        self.proc = _spawn(self.port, self.store_dir)


def _spawn(port: int, store_dir: Path) -> subprocess.Popen:
    conf = store_dir / "nats.conf"
    conf.write_text(nats_config(port, free_port(), store_dir / "js"))
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
        port = free_port()
        proc = _spawn(port, root)
        n = NatsProcess(f"nats://127.0.0.1:{port}", port, root, proc)
        try:
            yield n
        finally:
            n.proc.kill()
            n.proc.wait(10)
