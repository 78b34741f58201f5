"""The local mesh: a nats-server, one index, N storage nodes and (optionally) validators of the
STOS ledger as detached local processes under
STRATOS_HOME/run, so a new user can `stratos put` and `stratos get` within a minute with no
Kubernetes (ARCHITECTURE.md, "Running it").

Usable without the CLI: tests and benchmarks call `up`, `down`, `kill`, `start` and `status`.
This module is the launcher's public face and its decisions (what to start, in which order,
when the mesh counts as ready); `meshplan` plans the records, `meshfile` keeps them in
run/mesh.json (its format is described there), and `procctl` runs the processes. The names
callers used to import from here are re-exported, so `localmesh.X` keeps working.
"""

from __future__ import annotations

import shutil
import signal
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import psutil

from stratos.common.errors import (
    ConfigError,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
)
from stratos.common.procs import free_port, nats_server_binary
from stratos.sdk import mesh_trust, meshnats
from stratos.sdk.home import Home
from stratos.sdk.meshfile import find, load, locked, require, save
from stratos.sdk.meshplan import (
    DEFAULT_INCENTIVE,
    DEFAULT_VALIDATORS,
    INCENTIVE,
    INDEX,
    MAX_CAPACITY_BYTES,
    MAX_STORAGE_ADDED,
    MAX_STORAGE_NODES,
    MESH_VERSION,
    MIN_CAPACITY_BYTES,
    NATS,
    STORAGE,
    VALIDATOR,
    GiB,
    ProcessRecord,
    StatusRow,
    UpReport,
    check_incentive_count,
    check_validator_count,
    genesis_file,
    incentive_key_file,
    plan_processes,
    sort_records,
    storage_fields,
    storage_key_file,
    storage_name,
    validator_count,
    validator_key_file,
    validator_name,
)
from stratos.sdk.meshtls import issue_local, local_client_tls, tls_dir
from stratos.sdk.procctl import (
    grpc_healthy,
    healthy,
    index_running,
    is_running,
    last_line,
    list_nodes,
    live_process,
    node_health,
    spawn,
    tail,
    wait_gone,
)

__all__ = [
    "DEFAULT_INCENTIVE",
    "DEFAULT_VALIDATORS",
    "INDEX",
    "MESH_VERSION",
    "NATS",
    "STORAGE",
    "VALIDATOR",
    "GiB",
    "ProcessRecord",
    "StatusRow",
    "UpReport",
    "add_storage",
    "check_incentive_count",
    "check_validator_count",
    "down",
    "find",
    "grpc_healthy",
    "healthy",
    "index_running",
    "is_running",
    "kill",
    "list_nodes",
    "load",
    "log_file",
    "plan_processes",
    "sort_records",
    "start",
    "status",
    "storage_fields",
    "storage_name",
    "tail",
    "up",
    "validator_height",
    "validator_name",
]

_POLL_S = 0.2


def _wait_ready(
    home: Home, records: list[ProcessRecord], names: set[str], deadline: float, wait_s: float
) -> None:
    """Until `deadline`: every process in `names` healthy and every storage node LIVE in the
    index. Raises naming the first process that did not come up, with its log."""
    # The generated stubs are imported here, not at the top, so `stratos dev kill` starts faster.
    from stratos.v1 import types_pb2

    credentials = local_client_tls(home).channel_credentials()
    index = next((r for r in records if r.kind == INDEX), None)
    targets = [r for r in records if r.name in names]
    storage = {r.name for r in targets if r.kind == STORAGE}
    blame: tuple[ProcessRecord, str] | None = None
    while True:
        blame = None
        for rec in targets:
            if not is_running(rec):
                raise FailedPrecondition(
                    f"{rec.name} exited while starting ({last_line(rec)}); see {rec.log}"
                )
            if blame is None and not healthy(rec, credentials):
                blame = (rec, "did not become healthy")
        if blame is None and storage and index is not None and is_running(index):
            nodes = list_nodes(index.address, credentials) or {}
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
                f"{rec.name} {why} within {wait_s:.0f}s ({last_line(rec)}); see {rec.log}"
            )
        time.sleep(_POLL_S)


# -- the operations -----------------------------------------------------------------------------


def _prepare_chain(home: Home, validators: int, records: list[ProcessRecord]) -> None:
    """Keys for validator-1..N (run/validator-i/validator.pem, made once) and run/genesis.json:
    written once with those validators, the local user's default wallet funded (and holding
    ozone), and the mesh's storage nodes and incentive replicas registered on the ledger; an
    existing genesis is only checked, never rewritten (the chain would fork from its own data).
    Storage nodes added later are not registered: they serve, and earn nothing on this chain."""
    from stratos.common.identity import address_of, load_or_create
    from stratos.sdk import genesis

    keys = [
        load_or_create(validator_key_file(home.run_dir, i)).public_bytes
        for i in range(1, validators + 1)
    ]
    path = genesis_file(home.run_dir)
    if path.exists():
        genesis.check_genesis(path, keys)
        return

    def address(key_file: Path) -> str:
        return address_of(load_or_create(key_file).public_bytes)

    faucet = address_of(home.identity().public_bytes)
    doc = genesis.local_genesis(
        keys,
        faucet,
        int(time.time() * 1000),
        resource_nodes=[
            address(storage_key_file(home.run_dir, r.name)) for r in records if r.kind == STORAGE
        ],
        meta_nodes=[
            address(incentive_key_file(home.run_dir, r.name))
            for r in records
            if r.kind == INCENTIVE
        ],
    )
    genesis.write_genesis(path, doc)


def _with_certificates(home: Home, records: list[ProcessRecord]) -> None:
    """The mesh CA and each gRPC process's certificate under run/tls (`meshtls`), named in its
    environment."""
    issued = issue_local(home, [(r.name, r.kind) for r in records])
    for rec in records:
        if rec.name in issued:
            rec.env.update(issued[rec.name].env())


def up(
    home: Home,
    storage_nodes: int = 3,
    capacity_bytes: int = 10 * GiB,
    wait_s: float = 60.0,
    validators: int = DEFAULT_VALIDATORS,
    incentive: int = DEFAULT_INCENTIVE,
) -> UpReport:
    """Start whatever part of the mesh is down and return once all of it is healthy and every
    storage node is LIVE in the index. Idempotent; adds storage nodes but never removes any.
    `validators` (0, 1 or ≥ 4) adds that many ledger validators to a mesh that has none; the
    validators of a mesh that has some are kept as they are. With the validators come
    `incentive` replicas of the incentive service, each a meta node registered at genesis."""
    if not 1 <= storage_nodes <= MAX_STORAGE_NODES:
        raise InvalidArgument(
            f"storage nodes must be between 1 and {MAX_STORAGE_NODES}, not {storage_nodes}"
        )
    _check_capacity(capacity_bytes)
    check_validator_count(validators)
    check_incentive_count(incentive)
    deadline = time.monotonic() + wait_s
    report = UpReport()
    with locked(home):
        records = plan_processes(
            home.run_dir,
            load(home) or [],
            storage_nodes=storage_nodes,
            capacity_bytes=capacity_bytes,
            port=free_port,
            python=sys.executable,
            nats_binary=nats_server_binary,
            validators=validators,
            incentive=incentive,
        )
        if n := validator_count(records):
            _prepare_chain(home, n, records)
        _with_certificates(home, records)
        mesh_trust.admit(home, records)
        if meshnats.secure(home.run_dir, records, tls_dir(home)):
            _reload_nats(records)
        save(home, records)
        for rec in records:
            if is_running(rec):
                rec.state = "running"
                report.already_running.append(rec.name)
                continue
            spawn(rec)
            save(home, records)
            report.started.append(rec.name)
            if rec.kind == NATS:  # the services need NATS to be there before they start
                _wait_ready(home, records, {rec.name}, deadline, wait_s)
        save(home, records)
        _wait_ready(home, records, {r.name for r in records}, deadline, wait_s)
    return report


def add_storage(
    home: Home, count: int = 1, capacity_bytes: int | None = None, wait_s: float = 60.0
) -> list[str]:
    """Start `count` new storage nodes (the next free names, fresh ports and data dirs) in the
    running mesh and return their names once each is LIVE in the index. Their capacity is
    `capacity_bytes`, or that of the last storage node when not given. The mesh rebalances
    onto them by itself (the index's repair loop)."""
    if not 1 <= count <= MAX_STORAGE_ADDED:
        raise InvalidArgument(f"add 1 to {MAX_STORAGE_ADDED} storage nodes at a time, not {count}")
    if capacity_bytes is not None:
        _check_capacity(capacity_bytes)
    deadline = time.monotonic() + wait_s
    with locked(home):
        records = require(home)
        index = next((r for r in records if r.kind == INDEX), None)
        if index is None or not is_running(index):
            raise FailedPrecondition(
                "the index is not running; start the mesh with 'stratos dev up'"
            )
        have = [r for r in records if r.kind == STORAGE]
        if len(have) + count > MAX_STORAGE_NODES:
            raise InvalidArgument(
                f"a local mesh runs at most {MAX_STORAGE_NODES} storage nodes; it has {len(have)}"
            )
        if capacity_bytes is None:
            capacity_bytes = int(have[-1].env["STRATOS_CAPACITY_BYTES"]) if have else 10 * GiB
        before = {r.name for r in records}
        records = plan_processes(
            home.run_dir,
            records,
            storage_nodes=_highest_storage_number(have) + count,
            capacity_bytes=capacity_bytes,
            port=free_port,
            python=sys.executable,
            nats_binary=nats_server_binary,
        )
        added = [r for r in records if r.name not in before]
        _with_certificates(home, records)
        mesh_trust.admit(home, records)
        if meshnats.secure(home.run_dir, records, tls_dir(home)):
            _reload_nats(records)  # the new nodes' NATS users
        save(home, records)
        for rec in added:
            spawn(rec)
            save(home, records)
        _wait_ready(home, records, {r.name for r in added}, deadline, wait_s)
    return [r.name for r in added]


def _reload_nats(records: list[ProcessRecord]) -> None:
    """A running nats-server learns the users just added; one not running reads them at start."""
    nats = next((r for r in records if r.kind == NATS), None)
    p = live_process(nats) if nats is not None else None
    if nats is not None and p is not None:
        meshnats.reload(nats, p.pid)


def _check_capacity(capacity_bytes: int) -> None:
    """Refused here, before a node is spawned that would refuse it at boot."""
    if not MIN_CAPACITY_BYTES <= capacity_bytes <= MAX_CAPACITY_BYTES:
        raise InvalidArgument(
            f"the storage capacity must be between 1 MiB and 1 EiB, not {capacity_bytes} bytes"
        )


def _highest_storage_number(storage: list[ProcessRecord]) -> int:
    numbers = [int(r.name.rsplit("-", 1)[1]) for r in storage if r.name.rsplit("-", 1)[1].isdigit()]
    return max(numbers, default=0)


def down(home: Home, purge: bool = False, grace_s: float = 10.0) -> list[str]:
    """SIGTERM the incentive service, validators, storage nodes, then the index, then nats (each
    given `grace_s`),
    SIGKILL what is left; data is kept unless `purge`, which also deletes run/ (and so the local
    chain and its genesis). Returns the names stopped."""
    stopped: list[str] = []
    with locked(home):
        records = load(home) or []
        order = (INCENTIVE, VALIDATOR, STORAGE, INDEX, NATS)
        # a kind this list does not name yet is stopped first, never left running
        others = sorted({r.kind for r in records} - set(order))
        for kind in (*others, *order):
            procs = [(r, p) for r in records if r.kind == kind and (p := live_process(r))]
            for _rec, p in procs:
                with suppress(psutil.Error):
                    p.send_signal(signal.SIGTERM)
            for _rec, p in wait_gone(procs, grace_s):
                with suppress(psutil.Error):
                    p.kill()
            if left := wait_gone(procs, 5.0):
                names = ", ".join(r.name for r, _ in left)
                raise FailedPrecondition(f"could not stop {names} even with SIGKILL")
            stopped += [r.name for r, _ in procs]
        for rec in records:
            rec.pid, rec.create_time, rec.state = None, None, "stopped"
        if records and not purge:
            save(home, records)
    if purge and home.run_dir.exists():
        shutil.rmtree(home.run_dir)
    return stopped


def kill(home: Home, name: str) -> bool:
    """SIGKILL one process (to see the mesh cope). False if it was not running."""
    with locked(home):
        records = require(home)
        rec = find(records, name)
        p = live_process(rec)
        if p is not None:
            with suppress(psutil.Error):
                p.kill()
            if wait_gone([(rec, p)], 5.0):
                raise FailedPrecondition(f"{name} did not die after SIGKILL")
        rec.state = "stopped"
        save(home, records)
    return p is not None


def start(home: Home, name: str, wait_s: float = 30.0) -> bool:
    """Start one stopped process again with the same argv, env and port; wait until healthy
    (and LIVE in the index, for a storage node). False if it was already running."""
    deadline = time.monotonic() + wait_s
    with locked(home):
        records = require(home)
        rec = find(records, name)
        if is_running(rec):
            return False
        spawn(rec)
        save(home, records)
        _wait_ready(home, records, {name}, deadline, wait_s)
    return True


def status(home: Home) -> list[StatusRow]:
    """One row per process; storage columns come from the index (None when it cannot answer)."""
    records = require(home)
    try:
        credentials = local_client_tls(home).channel_credentials()
    except ConfigError:  # no CA yet: nothing can have started with one, so nothing answers
        credentials = None
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
                healthy=running and credentials is not None and healthy(rec, credentials),
            )
        )
    index = next((r for r in rows if r.kind == INDEX), None)
    nodes = health = None
    if index is not None and index.running and credentials is not None:
        nodes = list_nodes(index.address, credentials)
        health = node_health(index.address, credentials)
    for row in rows:
        if row.kind == STORAGE:
            for k, v in storage_fields(row.name, nodes).items():
                setattr(row, k, v)
            if health is not None and row.name in health:
                row.repair_jobs = health[row.name].jobs_outstanding
        elif row.kind == VALIDATOR and row.running and credentials is not None:
            row.height = validator_height(row.address, credentials)
    return rows


def validator_height(address: str, credentials: Any, timeout_s: float = 1.0) -> int | None:
    """The latest committed height a validator reports, or None when it cannot be asked."""
    import grpc

    from stratos.v1 import consensus_pb2, consensus_pb2_grpc

    with grpc.secure_channel(address, credentials) as ch:
        try:
            resp = consensus_pb2_grpc.ConsensusServiceStub(ch).Status(
                consensus_pb2.StatusRequest(), timeout=timeout_s
            )
        except grpc.RpcError:
            return None
    return resp.height


def log_file(home: Home, name: str) -> Path:
    return Path(find(require(home), name).log)
