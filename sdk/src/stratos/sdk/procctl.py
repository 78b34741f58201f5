"""The mesh's processes as the operating system sees them: spawning one detached with its log,
finding the live process behind a record (never a reused pid or a zombie), waiting for
processes to exit, asking one whether it is healthy, and reading the end of its log. The
launcher's decisions live in `localmesh`; this module only does what it is told."""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import grpc
import psutil

from stratos.common.errors import FailedPrecondition
from stratos.common.files import PRIVATE_UMASK, private_dir, tighten, write_atomic
from stratos.common.procs import nats_config, port_open
from stratos.sdk.home import Home
from stratos.sdk.meshfile import load
from stratos.sdk.meshplan import INDEX, NATS, ProcessRecord

# The generated gRPC stubs are imported where used, so `stratos dev kill` starts faster.


def reap(pid: int) -> None:
    """Collect the exit status if `pid` is our own child, so it does not linger as a zombie."""
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def live_process(rec: ProcessRecord) -> psutil.Process | None:
    """The live process behind `rec`, or None if it is gone, a zombie, or the pid was reused."""
    if not rec.pid:
        return None
    try:
        p = psutil.Process(rec.pid)
        if rec.create_time is not None and abs(p.create_time() - rec.create_time) > 1.0:
            return None
        if p.status() == psutil.STATUS_ZOMBIE:
            reap(rec.pid)
            return None
        return p
    except psutil.Error:
        return None


def is_running(rec: ProcessRecord) -> bool:
    return live_process(rec) is not None


def index_running(home: Home) -> bool | None:
    """Whether the local mesh's index process is alive; None when there is no local mesh.
    Here rather than in `localmesh`, so a client command's hint does not load the launcher
    (its NATS and certificate modules)."""
    records = load(home)
    if records is None:
        return None
    return any(r.kind == INDEX and is_running(r) for r in records)


def wait_gone(procs: list[tuple[ProcessRecord, psutil.Process]], timeout_s: float) -> list:
    """Poll until every process has exited (zombies count as exited); returns the survivors."""
    deadline = time.monotonic() + timeout_s
    left = list(procs)
    while left:
        left = [(r, p) for r, p in left if live_process(r) is not None]
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return left


def spawn(rec: ProcessRecord) -> None:
    """Start `rec` detached from this terminal, logging to its log file (appended)."""
    if rec.data_dir:
        private_dir(Path(rec.data_dir))
    if rec.kind == NATS:
        assert rec.data_dir and rec.monitor_address
        nats_dir = Path(rec.data_dir)
        port = int(rec.address.rsplit(":", 1)[1])
        monitor = int(rec.monitor_address.rsplit(":", 1)[1])
        # the users, TLS files and their config lines are `meshnats`' (secure.conf)
        conf = (nats_config(port, monitor, nats_dir / "js") + 'include "secure.conf"\n').encode()
        write_atomic(nats_dir / "nats.conf", conf, mode=0o600)
    log_path = Path(rec.log)
    private_dir(log_path.parent)
    tighten(log_path, 0o600)  # a log an older version left readable (logs name files)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **rec.env}
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with open(fd, "ab") as log:
        log.write(f"--- stratos dev: starting {rec.name} at {time.ctime()} ---\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                rec.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=log_path.parent.parent,
                start_new_session=True,
                close_fds=True,
                umask=PRIVATE_UMASK,  # what each process writes is this user's alone
            )
        except OSError as exc:
            raise FailedPrecondition(f"cannot start {rec.name}: {exc.strerror or exc}") from None
    rec.pid = proc.pid
    try:
        rec.create_time = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        rec.create_time = None
    rec.state = "running"


def grpc_healthy(
    address: str, credentials: grpc.ChannelCredentials, timeout_s: float = 1.0
) -> bool:
    """The standard gRPC health check over the mesh's TLS, synchronous so the launcher works
    inside or outside an event loop (same semantics as grpcutil.check_health)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.secure_channel(address, credentials) as ch:
        try:
            resp = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout_s
            )
        except grpc.RpcError:
            return False
    return resp.status == health_pb2.HealthCheckResponse.SERVING


def list_nodes(
    index_address: str, credentials: grpc.ChannelCredentials, timeout_s: float = 2.0
) -> dict[str, Any] | None:
    """node_id → NodeStatus from the index, or None when the index cannot be asked."""
    from stratos.v1 import index_pb2, index_pb2_grpc

    with grpc.secure_channel(index_address, credentials) as ch:
        try:
            resp = index_pb2_grpc.IndexServiceStub(ch).ListNodes(
                index_pb2.ListNodesRequest(), timeout=timeout_s
            )
        except grpc.RpcError:
            return None
    return {n.info.node_id: n for n in resp.nodes}


def node_health(
    index_address: str, credentials: grpc.ChannelCredentials, timeout_s: float = 2.0
) -> dict[str, Any] | None:
    """node_id → NodeHealth (repair jobs, draining) from the index, or None when it cannot say."""
    from stratos.v1 import index_pb2, index_pb2_grpc

    with grpc.secure_channel(index_address, credentials) as ch:
        try:
            resp = index_pb2_grpc.IndexServiceStub(ch).GetHealth(
                index_pb2.GetHealthRequest(), timeout=timeout_s
            )
        except grpc.RpcError:
            return None
    return {n.node_id: n for n in resp.nodes}


def healthy(rec: ProcessRecord, credentials: grpc.ChannelCredentials) -> bool:
    host, _, port = rec.address.rpartition(":")
    if rec.kind == NATS:
        return port_open(host, int(port))
    return grpc_healthy(rec.address, credentials)


def tail(path: Path | str, n: int = 50) -> list[str]:
    """The last `n` lines of a (possibly large) log file, reading only its end."""
    path = Path(path)
    if not path.exists() or n <= 0:
        return []
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        data = b""
        pos = end
        while pos > 0 and data.count(b"\n") <= n:
            step = min(64 * 1024, pos)
            pos -= step
            f.seek(pos)
            data = f.read(step) + data
    return data.decode(errors="replace").splitlines()[-n:]


def last_line(rec: ProcessRecord) -> str:
    """The last non-blank line of `rec`'s log, to quote in an error (long lines shortened)."""
    lines = [ln for ln in tail(rec.log, 20) if ln.strip()]
    if not lines:
        return "the log is empty"
    last = lines[-1].strip()
    return "last log line: " + (last if len(last) <= 300 else last[:300] + "…")
