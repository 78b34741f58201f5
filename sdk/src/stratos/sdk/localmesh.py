"""The local mesh: a nats-server, one index and N storage nodes as detached local processes under
STRATOS_HOME/run, so a new user can `stratos put` and `stratos get` within a minute with no
Kubernetes (ARCHITECTURE.md, "Running it").

Usable without the CLI: tests and benchmarks call `up`, `down`, `kill`, `start` and `status`.
Every process is recorded in run/mesh.json with its argv, its STRATOS_* overrides, its port
(chosen once, so restarts reuse it and clients keep finding it) and its pid together with the
pid's create time, so a pid the kernel has since reused is never signalled.

mesh.json:
    {"version": 1, "processes": [{"name", "kind": "nats|index|storage", "pid", "create_time",
      "state": "running|stopped", "address", "monitor_address", "argv", "env", "log",
      "data_dir"}, ...]}
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psutil

from stratos.common.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument, NotFound
from stratos.common.files import write_atomic
from stratos.common.procs import free_port, nats_config, nats_server_binary, port_open
from stratos.sdk.home import Home

# The generated gRPC stubs are imported where used, so `stratos dev kill` starts faster.

MESH_VERSION = 1
GiB = 1 << 30
NATS, INDEX, STORAGE = "nats", "index", "storage"
_KIND_ORDER = {NATS: 0, INDEX: 1, STORAGE: 2}
_POLL_S = 0.2


@dataclass
class ProcessRecord:
    """One process of the mesh, exactly as mesh.json stores it."""

    name: str
    kind: str
    address: str
    argv: list[str]
    env: dict[str, str]  # only the STRATOS_* overrides; the rest is inherited
    log: str
    data_dir: str | None
    pid: int | None = None
    create_time: float | None = None  # psutil create time of `pid`; guards against pid reuse
    state: str = "stopped"  # as the launcher last left it: "running" | "stopped"
    monitor_address: str | None = None  # nats only: its HTTP monitoring endpoint

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProcessRecord:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class StatusRow:
    """What `status` knows about one process; None means "unknown" (shown as '?')."""

    name: str
    kind: str
    pid: int | None
    address: str
    running: bool
    healthy: bool
    state: str | None = None  # storage only: LIVE / SUSPECT / LOST as the index sees it
    used_bytes: int | None = None
    capacity_bytes: int | None = None
    chunks: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UpReport:
    started: list[str] = field(default_factory=list)
    already_running: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        if not self.started:
            return f"the mesh was already running ({len(self.already_running)} processes)"
        line = f"started {', '.join(self.started)}"
        if self.already_running:
            line += f"; {', '.join(self.already_running)} already running"
        return line


# -- pure planning ------------------------------------------------------------------------------


def storage_name(i: int) -> str:
    return f"storage-{i}"


def sort_records(records: list[ProcessRecord]) -> list[ProcessRecord]:
    """nats, index, then storage-1, storage-2, … (numerically), the order processes start in."""

    def key(r: ProcessRecord) -> tuple[int, int, str]:
        num = r.name.rsplit("-", 1)[-1]
        return (_KIND_ORDER.get(r.kind, 9), int(num) if num.isdigit() else 0, r.name)

    return sorted(records, key=key)


def plan_processes(
    run_dir: Path,
    existing: list[ProcessRecord],
    *,
    storage_nodes: int,
    capacity_bytes: int,
    port: Callable[[], int],
    python: str,
    nats_binary: Callable[[], str],
) -> list[ProcessRecord]:
    """The mesh's records: every existing one unchanged, plus nats, the index and storage-1..N
    for whichever are missing (never removes a node). `port` picks a fresh loopback port."""
    have = {r.name: r for r in existing}
    taken = {r.address for r in existing} | {r.monitor_address for r in existing}

    def fresh() -> str:
        for _ in range(100):
            addr = f"127.0.0.1:{port()}"
            if addr not in taken:
                taken.add(addr)
                return addr
        raise FailedPrecondition("could not find a free loopback port")

    logs = run_dir / "logs"
    out = list(existing)
    if NATS not in have:
        nats_dir = run_dir / "nats"
        out.append(
            ProcessRecord(
                name=NATS,
                kind=NATS,
                address=fresh(),
                monitor_address=fresh(),
                argv=[nats_binary(), "-c", str(nats_dir / "nats.conf")],
                env={},
                log=str(logs / "nats.log"),
                data_dir=str(nats_dir),
            )
        )
    nats_url = "nats://" + next(r for r in out if r.kind == NATS).address
    if INDEX not in have:
        out.append(
            ProcessRecord(
                name=INDEX,
                kind=INDEX,
                address=(addr := fresh()),
                argv=[python, "-m", "stratos.index"],
                env={"STRATOS_NATS_URL": nats_url, "STRATOS_GRPC_ADDRESS": addr},
                log=str(logs / "index.log"),
                data_dir=None,
            )
        )
    for i in range(1, storage_nodes + 1):
        name = storage_name(i)
        if name in have:
            continue
        data_dir = run_dir / name
        out.append(
            ProcessRecord(
                name=name,
                kind=STORAGE,
                address=(addr := fresh()),
                argv=[python, "-m", "stratos.storage"],
                env={
                    "STRATOS_NATS_URL": nats_url,
                    "STRATOS_GRPC_ADDRESS": addr,
                    "STRATOS_NODE_ID": name,
                    "STRATOS_DATA_DIR": str(data_dir),
                    "STRATOS_CAPACITY_BYTES": str(capacity_bytes),
                    "STRATOS_ZONE": f"zone-{(i - 1) % 3 + 1}",
                },
                log=str(logs / f"{name}.log"),
                data_dir=str(data_dir),
            )
        )
    return sort_records(out)


def storage_fields(name: str, nodes: dict[str, Any] | None) -> dict[str, Any]:
    """A storage row's index-side columns from ListNodes (None everywhere when unknown)."""
    from stratos.v1 import types_pb2

    node = (nodes or {}).get(name)
    if node is None:
        return {"state": None, "used_bytes": None, "capacity_bytes": None, "chunks": None}
    return {
        "state": types_pb2.NodeState.Name(node.state).removeprefix("NODE_STATE_"),
        "used_bytes": node.info.used_bytes,
        "capacity_bytes": node.info.capacity_bytes,
        "chunks": node.chunk_count,
    }


# -- mesh.json ----------------------------------------------------------------------------------


def load(home: Home) -> list[ProcessRecord] | None:
    """The recorded processes, or None when no mesh was ever started under `home`."""
    if not home.mesh_file.exists():
        return None
    try:
        doc = json.loads(home.mesh_file.read_text())
        if doc.get("version") != MESH_VERSION:
            raise FailedPrecondition(
                f"{home.mesh_file} has version {doc.get('version')!r}, expected {MESH_VERSION}"
            )
        return sort_records([ProcessRecord.from_dict(p) for p in doc["processes"]])
    except (ValueError, KeyError, TypeError):
        raise FailedPrecondition(f"{home.mesh_file} is not a valid mesh description") from None


def _save(home: Home, records: list[ProcessRecord]) -> None:
    """Write mesh.json atomically (write, fsync, rename)."""
    doc = {"version": MESH_VERSION, "processes": [asdict(r) for r in sort_records(records)]}
    write_atomic(home.mesh_file, json.dumps(doc, indent=1).encode(), mode=0o644)


@contextmanager
def _locked(home: Home) -> Iterator[None]:
    """One launcher at a time per home (two `up`s must not start two meshes)."""
    home.run_dir.mkdir(parents=True, exist_ok=True)
    with open(home.run_dir / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _require(home: Home) -> list[ProcessRecord]:
    records = load(home)
    if records is None:
        raise FailedPrecondition(
            f"no mesh is running under {home.root}; start one with 'stratos dev up'"
        )
    return records


def find(records: list[ProcessRecord], name: str) -> ProcessRecord:
    for r in records:
        if r.name == name:
            return r
    valid = ", ".join(r.name for r in records)
    raise NotFound(f"there is no process named {name!r} in the local mesh; valid names: {valid}")


# -- processes ----------------------------------------------------------------------------------


def _reap(pid: int) -> None:
    """Collect the exit status if `pid` is our own child, so it does not linger as a zombie."""
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _process(rec: ProcessRecord) -> psutil.Process | None:
    """The live process behind `rec`, or None if it is gone, a zombie, or the pid was reused."""
    if not rec.pid:
        return None
    try:
        p = psutil.Process(rec.pid)
        if rec.create_time is not None and abs(p.create_time() - rec.create_time) > 1.0:
            return None
        if p.status() == psutil.STATUS_ZOMBIE:
            _reap(rec.pid)
            return None
        return p
    except psutil.Error:
        return None


def is_running(rec: ProcessRecord) -> bool:
    return _process(rec) is not None


def _wait_gone(procs: list[tuple[ProcessRecord, psutil.Process]], timeout_s: float) -> list:
    """Poll until every process has exited (zombies count as exited); returns the survivors."""
    deadline = time.monotonic() + timeout_s
    left = list(procs)
    while left:
        left = [(r, p) for r, p in left if _process(r) is not None]
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return left


def _spawn(rec: ProcessRecord) -> None:
    """Start `rec` detached from this terminal, logging to its log file (appended)."""
    if rec.kind == NATS:
        assert rec.data_dir and rec.monitor_address
        nats_dir = Path(rec.data_dir)
        nats_dir.mkdir(parents=True, exist_ok=True)
        port = int(rec.address.rsplit(":", 1)[1])
        monitor = int(rec.monitor_address.rsplit(":", 1)[1])
        (nats_dir / "nats.conf").write_text(nats_config(port, monitor, nats_dir / "js"))
    elif rec.data_dir:
        Path(rec.data_dir).mkdir(parents=True, exist_ok=True)
    log_path = Path(rec.log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **rec.env}
    with open(log_path, "ab") as log:
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
            )
        except OSError as exc:
            raise FailedPrecondition(f"cannot start {rec.name}: {exc.strerror or exc}") from None
    rec.pid = proc.pid
    try:
        rec.create_time = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        rec.create_time = None
    rec.state = "running"


def grpc_healthy(address: str, timeout_s: float = 1.0) -> bool:
    """The standard gRPC health check, synchronous so the launcher works inside or outside an
    event loop (same semantics as grpcutil.check_health)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as ch:
        try:
            resp = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout_s
            )
        except grpc.RpcError:
            return False
    return resp.status == health_pb2.HealthCheckResponse.SERVING


def list_nodes(index_address: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """node_id → NodeStatus from the index, or None when the index cannot be asked."""
    from stratos.v1 import index_pb2, index_pb2_grpc

    with grpc.insecure_channel(index_address) as ch:
        try:
            resp = index_pb2_grpc.IndexServiceStub(ch).ListNodes(
                index_pb2.ListNodesRequest(), timeout=timeout_s
            )
        except grpc.RpcError:
            return None
    return {n.info.node_id: n for n in resp.nodes}


def healthy(rec: ProcessRecord) -> bool:
    host, _, port = rec.address.rpartition(":")
    if rec.kind == NATS:
        return port_open(host, int(port))
    return grpc_healthy(rec.address)


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


def _last_line(rec: ProcessRecord) -> str:
    lines = [ln for ln in tail(rec.log, 20) if ln.strip()]
    if not lines:
        return "the log is empty"
    last = lines[-1].strip()
    return "last log line: " + (last if len(last) <= 300 else last[:300] + "…")


def _wait_ready(
    records: list[ProcessRecord], names: set[str], deadline: float, wait_s: float
) -> None:
    """Until `deadline`: every process in `names` healthy and every storage node LIVE in the
    index. Raises naming the first process that did not come up, with its log."""
    from stratos.v1 import types_pb2

    index = next((r for r in records if r.kind == INDEX), None)
    targets = [r for r in records if r.name in names]
    storage = {r.name for r in targets if r.kind == STORAGE}
    blame: tuple[ProcessRecord, str] | None = None
    while True:
        blame = None
        for rec in targets:
            if not is_running(rec):
                raise FailedPrecondition(
                    f"{rec.name} exited while starting ({_last_line(rec)}); see {rec.log}"
                )
            if blame is None and not healthy(rec):
                blame = (rec, "did not become healthy")
        if blame is None and storage and index is not None and is_running(index):
            nodes = list_nodes(index.address) or {}
            for rec in targets:
                node = nodes.get(rec.name)
                if rec.name in storage and (
                    node is None or node.state != types_pb2.NODE_STATE_LIVE
                ):
                    blame = (rec, "is not LIVE in the index")
                    break
        if blame is None:
            return
        if time.monotonic() >= deadline:
            rec, why = blame
            raise DeadlineExceeded(
                f"{rec.name} {why} within {wait_s:.0f}s ({_last_line(rec)}); see {rec.log}"
            )
        time.sleep(_POLL_S)


# -- the operations -----------------------------------------------------------------------------


def up(
    home: Home,
    storage_nodes: int = 3,
    capacity_bytes: int = 10 * GiB,
    wait_s: float = 60.0,
) -> UpReport:
    """Start whatever part of the mesh is down and return once all of it is healthy and every
    storage node is LIVE in the index. Idempotent; adds storage nodes but never removes any."""
    if not 1 <= storage_nodes <= 64:
        raise InvalidArgument(f"storage nodes must be between 1 and 64, not {storage_nodes}")
    if capacity_bytes <= 0:
        raise InvalidArgument("the storage capacity must be greater than zero")
    deadline = time.monotonic() + wait_s
    report = UpReport()
    with _locked(home):
        records = plan_processes(
            home.run_dir,
            load(home) or [],
            storage_nodes=storage_nodes,
            capacity_bytes=capacity_bytes,
            port=free_port,
            python=sys.executable,
            nats_binary=nats_server_binary,
        )
        _save(home, records)
        for rec in records:
            if is_running(rec):
                rec.state = "running"
                report.already_running.append(rec.name)
                continue
            _spawn(rec)
            _save(home, records)
            report.started.append(rec.name)
            if rec.kind == NATS:  # the services need NATS to be there before they start
                _wait_ready(records, {rec.name}, deadline, wait_s)
        _save(home, records)
        _wait_ready(records, {r.name for r in records}, deadline, wait_s)
    return report


def down(home: Home, purge: bool = False, grace_s: float = 10.0) -> list[str]:
    """SIGTERM storage nodes, then the index, then nats (each given `grace_s`), SIGKILL what is
    left; data is kept unless `purge`, which also deletes run/. Returns the names stopped."""
    stopped: list[str] = []
    with _locked(home):
        records = load(home) or []
        for kind in (STORAGE, INDEX, NATS):
            procs = [(r, p) for r in records if r.kind == kind and (p := _process(r))]
            for _rec, p in procs:
                with suppress(psutil.Error):
                    p.send_signal(signal.SIGTERM)
            for _rec, p in _wait_gone(procs, grace_s):
                with suppress(psutil.Error):
                    p.kill()
            if left := _wait_gone(procs, 5.0):
                names = ", ".join(r.name for r, _ in left)
                raise FailedPrecondition(f"could not stop {names} even with SIGKILL")
            stopped += [r.name for r, _ in procs]
        for rec in records:
            rec.pid, rec.create_time, rec.state = None, None, "stopped"
        if records and not purge:
            _save(home, records)
    if purge and home.run_dir.exists():
        shutil.rmtree(home.run_dir)
    return stopped


def kill(home: Home, name: str) -> bool:
    """SIGKILL one process (to see the mesh cope). False if it was not running."""
    with _locked(home):
        records = _require(home)
        rec = find(records, name)
        p = _process(rec)
        if p is not None:
            with suppress(psutil.Error):
                p.kill()
            if _wait_gone([(rec, p)], 5.0):
                raise FailedPrecondition(f"{name} did not die after SIGKILL")
        rec.state = "stopped"
        _save(home, records)
    return p is not None


def start(home: Home, name: str, wait_s: float = 30.0) -> bool:
    """Start one stopped process again with the same argv, env and port; wait until healthy
    (and LIVE in the index, for a storage node). False if it was already running."""
    deadline = time.monotonic() + wait_s
    with _locked(home):
        records = _require(home)
        rec = find(records, name)
        if is_running(rec):
            return False
        _spawn(rec)
        _save(home, records)
        _wait_ready(records, {name}, deadline, wait_s)
    return True


def status(home: Home) -> list[StatusRow]:
    """One row per process; storage columns come from the index (None when it cannot answer)."""
    records = _require(home)
    rows = []
    for rec in records:
        running = is_running(rec)
        rows.append(
            StatusRow(
                name=rec.name,
                kind=rec.kind,
                pid=rec.pid if running else None,
                address=rec.address,
                running=running,
                healthy=running and healthy(rec),
            )
        )
    index = next((r for r in rows if r.kind == INDEX), None)
    nodes = None
    if index is not None and index.running:
        nodes = list_nodes(index.address)
    for row in rows:
        if row.kind == STORAGE:
            for k, v in storage_fields(row.name, nodes).items():
                setattr(row, k, v)
    return rows


def index_running(home: Home) -> bool | None:
    """Whether the local mesh's index process is alive; None when there is no local mesh."""
    records = load(home)
    if records is None:
        return None
    return any(r.kind == INDEX and is_running(r) for r in records)


def log_file(home: Home, name: str) -> Path:
    return Path(find(_require(home), name).log)
