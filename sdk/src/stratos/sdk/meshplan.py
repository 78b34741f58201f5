"""What the local mesh should consist of, decided without touching the machine: the records of
mesh.json, the order processes start in, which ports and environment each one gets, and the
status rows shown to a user. Pure, so the unit tests call it directly; `localmesh` applies it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stratos.common.errors import FailedPrecondition, InvalidArgument

MESH_VERSION = 1
GiB = 1 << 30
NATS, INDEX, STORAGE, VALIDATOR = "nats", "index", "storage", "validator"
INCENTIVE = "incentive"
DEFAULT_INCENTIVE = 1
MAX_INCENTIVE = 7
_KIND_ORDER = {NATS: 0, INDEX: 1, STORAGE: 2, VALIDATOR: 3, INCENTIVE: 4}
# Validators `stratos dev up` runs unless told otherwise: 4, the least count that survives one
# faulty validator.
DEFAULT_VALIDATORS = 4
MAX_VALIDATORS = 64
MAX_STORAGE_NODES = 64
MIN_CAPACITY_BYTES, MAX_CAPACITY_BYTES = 1 << 20, 1 << 60  # what a storage node accepts
MAX_STORAGE_ADDED = 16  # by one `stratos dev add-storage`


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
    height: int | None = None  # validators only: the latest committed height it reports
    draining: bool | None = None  # storage only: being drained, from the index's node list
    repair_jobs: int | None = None  # storage only: repair jobs outstanding for it

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


def storage_name(i: int) -> str:
    return f"storage-{i}"


def validator_name(i: int) -> str:
    return f"validator-{i}"


def validator_dir(run_dir: Path, i: int) -> Path:
    return run_dir / validator_name(i)


def validator_key_file(run_dir: Path, i: int) -> Path:
    return validator_dir(run_dir, i) / "validator.pem"


def genesis_file(run_dir: Path) -> Path:
    return run_dir / "genesis.json"


def check_validator_count(n: int) -> int:
    """0 (no chain), 1 (a chain without fault tolerance) or 4..64; 2 and 3 are refused."""
    if n in (2, 3):
        raise FailedPrecondition(
            f"{n} validators would stop the chain as soon as one of them stops; "
            "run 1 validator (no fault tolerance) or at least 4 (tolerates one faulty)"
        )
    if not 0 <= n <= MAX_VALIDATORS:
        raise InvalidArgument(f"validators must be 0, 1 or between 4 and {MAX_VALIDATORS}, not {n}")
    return n


def check_incentive_count(n: int) -> int:
    """1..MAX_INCENTIVE replicas of the incentive service (the chain's meta nodes)."""
    if not 1 <= n <= MAX_INCENTIVE:
        raise InvalidArgument(f"incentive replicas must be between 1 and {MAX_INCENTIVE}, not {n}")
    return n


def validator_count(records: list[ProcessRecord]) -> int:
    return sum(1 for r in records if r.kind == VALIDATOR)


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
    validators: int = 0,
    incentive: int = DEFAULT_INCENTIVE,
) -> list[ProcessRecord]:
    """The mesh's records: every existing one unchanged, plus nats, the index, storage-1..N,
    validator-1..`validators` and, with validators, incentive-1..`incentive` for whichever are
    missing (never removes a node). The incentive replicas are the chain's meta nodes, registered
    at genesis, so like validators they are only ever added together with the chain. `port` picks a
    fresh loopback port. Each validator's peers are all the other validators; the validator set
    is fixed by the genesis, so validators are only ever added to a mesh that has none."""
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
    have_validators = validator_count(existing)
    if validators > have_validators:
        if have_validators:
            raise FailedPrecondition(
                f"the local chain has {have_validators} validators and a chain's validator set "
                f"is fixed at genesis, so it cannot grow to {validators}; start a new chain "
                "with 'stratos dev down --purge'"
            )
        addrs = [fresh() for _ in range(validators)]
        genesis = genesis_file(run_dir)
        for i in range(1, validators + 1):
            name, addr = validator_name(i), addrs[i - 1]
            data_dir = validator_dir(run_dir, i)
            out.append(
                ProcessRecord(
                    name=name,
                    kind=VALIDATOR,
                    address=addr,
                    argv=[python, "-m", "stratos.consensus"],
                    env={
                        "STRATOS_NATS_URL": nats_url,
                        "STRATOS_GRPC_ADDRESS": addr,
                        "STRATOS_DATA_DIR": str(data_dir),
                        "STRATOS_GENESIS_FILE": str(genesis),
                        "STRATOS_VALIDATOR_KEY_FILE": str(validator_key_file(run_dir, i)),
                        "STRATOS_PEERS": ",".join(a for a in addrs if a != addr),
                    },
                    log=str(logs / f"{name}.log"),
                    data_dir=str(data_dir),
                )
            )
    validator_addrs = [r.address for r in out if r.kind == VALIDATOR]
    if validator_addrs:  # the index checks payers' ozone on the chain
        index = next(r for r in out if r.kind == INDEX)
        index.env["STRATOS_CONSENSUS_ADDRESSES"] = ",".join(validator_addrs)
    have_incentive = sum(1 for r in existing if r.kind == INCENTIVE)
    if have_incentive and incentive > have_incentive:
        raise FailedPrecondition(
            f"the local chain has {have_incentive} incentive replicas, its meta nodes, fixed at "
            f"genesis, so it cannot grow to {incentive}; start a new chain with "
            "'stratos dev down --purge'"
        )
    if validator_addrs and not have_incentive:
        for i in range(1, incentive + 1):
            name = incentive_name(i)
            out.append(
                ProcessRecord(
                    name=name,
                    kind=INCENTIVE,
                    address=(addr := fresh()),
                    argv=[python, "-m", "stratos.incentive"],
                    env={
                        "STRATOS_NATS_URL": nats_url,
                        "STRATOS_GRPC_ADDRESS": addr,
                        "STRATOS_NODE_ID": name,
                        "STRATOS_IDENTITY_FILE": str(incentive_key_file(run_dir, name)),
                        "STRATOS_CONSENSUS_ADDRESSES": ",".join(validator_addrs),
                    },
                    log=str(logs / f"{name}.log"),
                    data_dir=str(run_dir / name),
                )
            )
    return sort_records(out)


def incentive_name(i: int) -> str:
    return f"incentive-{i}"


def incentive_key_file(run_dir: Path, name: str) -> Path:
    return run_dir / name / "identity.pem"


def storage_key_file(run_dir: Path, name: str) -> Path:
    return run_dir / name / "identity.pem"


def storage_fields(name: str, nodes: dict[str, Any] | None) -> dict[str, Any]:
    """A storage row's index-side columns from ListNodes (None everywhere when unknown): the
    registry's state and the drains' say, straight from the index rather than from its last
    health summary, which it cannot give before its first repair round."""
    # The generated stubs are imported here, not at the top, so `stratos dev kill` starts faster.
    from stratos.v1 import types_pb2

    node = (nodes or {}).get(name)
    if node is None:
        return {
            "state": None,
            "used_bytes": None,
            "capacity_bytes": None,
            "chunks": None,
            "draining": None,
        }
    return {
        "state": types_pb2.NodeState.Name(node.state).removeprefix("NODE_STATE_"),
        "used_bytes": node.info.used_bytes,
        "capacity_bytes": node.info.capacity_bytes,
        "chunks": node.chunk_count,
        "draining": node.draining,
    }
