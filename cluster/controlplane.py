"""A real Kubernetes control plane on loopback for development and the cluster test tier:
etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake Nodes whose pods
kwok marks Running and Ready; no container ever runs), as detached processes whose data,
certificates, logs and pid files live in a state dir outside the repository.

Volumes: a default StorageClass `standard` (no provisioner, Immediate binding, expandable) and
hostPath PersistentVolumes made by `ensure_volumes`, which also hands Released volumes back
(their claim reference cleared) — the tiny provisioner of this cluster. Nothing is ever
written to those paths: no container runs.

The tools come from hack/cluster-tools/build.sh (built once from their Go modules, cached).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from cluster import pki as pki_mod

REPO = Path(__file__).resolve().parent.parent
BUILD_SH = REPO / "hack" / "cluster-tools" / "build.sh"
DEFAULT_STATE_DIR = Path.home() / ".cache" / "stratos-mesh" / "cluster"
TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
# started in this order, stopped in the reverse one
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
ZONES = ("zone-a", "zone-b", "zone-c")
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
STORAGE_CLASS = "standard"
SERVICE_CIDR = "10.0.0.0/24"
KWOK_STAGES = Path(__file__).with_name("kwok-stages.yaml")
# kubectl -o: the Ready condition's status of every listed object, one per line
READY_JSONPATH = (
    "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}{'\\n'}{end}"
)


class ClusterError(RuntimeError):
    """One sentence for the user: what failed and where to look."""


@dataclass
class Ports:
    etcd: int = 0
    etcd_peer: int = 0
    apiserver: int = 0
    controller_manager: int = 0
    scheduler: int = 0
    kwok: int = 0


@dataclass
class State:
    """What `up` started (state.json): enough for `down` to stop exactly those processes."""

    ports: Ports = field(default_factory=Ports)
    pids: dict[str, tuple[int, float]] = field(default_factory=dict)  # name → (pid, create_time)


@dataclass(frozen=True)
class ControlPlane:
    """A control plane rooted at `state_dir`, run with the tools in `bin_dir`."""

    state_dir: Path
    bin_dir: Path

    # -- paths --------------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    @property
    def _state_file(self) -> Path:
        return self.state_dir / "state.json"

    def load_state(self) -> State | None:
        try:
            raw = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return None
        return State(Ports(**raw["ports"]), {k: tuple(v) for k, v in raw["pids"].items()})

    def _save(self, state: State) -> None:
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2))
        tmp.replace(self._state_file)
        pids = self.state_dir / "pids"
        pids.mkdir(exist_ok=True)
        for name, (pid, _) in state.pids.items():
            (pids / f"{name}.pid").write_text(f"{pid}\n")

    # -- kubectl ------------------------------------------------------------------------------
    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout_s: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.tool("kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if check and proc.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def kubectl_json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def env(self) -> dict[str, str]:
        """The environment of a client of this cluster (kubectl, helm, the operator)."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    # -- lifecycle ----------------------------------------------------------------------------
    def running(self) -> bool:
        """Every component `up` started is still alive."""
        state = self.load_state()
        if state is None or set(state.pids) != set(COMPONENTS):
            return False
        return all(_alive(*pid) for pid in state.pids.values())

    def up(self, *, nodes_per_zone: int = 1, volumes: int = 30, wait_s: float = 120) -> Path:
        """Start everything (a running control plane is left as it is) and return the
        kubeconfig path once the API server answers, the controllers and scheduler are
        healthy and the fake Nodes are Ready."""
        missing = [t for t in TOOLS if not (self.bin_dir / t).is_file()]
        if missing:
            raise ClusterError(
                f"{', '.join(missing)} not found in {self.bin_dir}; build the tools with "
                f"'bash {BUILD_SH.relative_to(REPO)}'"
            )
        if self.running():
            return self.kubeconfig
        self.down()  # whatever is left of an earlier run
        deadline = time.monotonic() + wait_s
        self.logs.mkdir(parents=True, exist_ok=True)
        certs = pki_mod.ensure(self.state_dir / "pki")
        ports = Ports(*(_free_port() for _ in range(6)))
        state = State(ports)
        self._write_kubeconfig(certs, ports.apiserver)
        try:
            for name in COMPONENTS:
                argv = self._argv(name, certs, ports)
                state.pids[name] = _spawn(argv, self.log(name))
                self._save(state)
                self._wait_component(name, state, deadline)
            self._seed(nodes_per_zone, deadline)
            self.ensure_volumes(volumes)
        except BaseException:
            self.down()
            raise
        return self.kubeconfig

    def down(self, grace_s: float = 10) -> list[str]:
        """Stop every process `up` started (SIGTERM, then SIGKILL after `grace_s`)."""
        state = self.load_state()
        if state is None:
            return []
        stopped = []
        for name in reversed(COMPONENTS):
            if name not in state.pids:
                continue
            proc = _process(*state.pids[name])
            if proc is not None:
                _terminate(proc, grace_s)
                stopped.append(name)
        self._state_file.unlink(missing_ok=True)
        shutil.rmtree(self.state_dir / "pids", ignore_errors=True)
        return stopped

    def purge(self) -> None:
        """Stop and delete the state dir (etcd data, certificates, logs)."""
        self.down()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    # -- the pieces ---------------------------------------------------------------------------
    def _argv(self, name: str, certs: pki_mod.Pki, p: Ports) -> list[str]:
        kc = str(self.kubeconfig)
        if name == "etcd":
            client, peer = f"http://127.0.0.1:{p.etcd}", f"http://127.0.0.1:{p.etcd_peer}"
            return [
                self.tool("etcd"),
                "--name=stratos-dev",
                f"--data-dir={self.state_dir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=stratos-dev={peer}",
                # a throwaway development store on a shared disk: durability buys nothing
                "--unsafe-no-fsync",
                "--quota-backend-bytes=2147483648",
                "--log-level=warn",
            ]
        if name == "kube-apiserver":
            return [
                self.tool("kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{p.etcd}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # no endpoints for the `kubernetes` Service: a loopback address may not be
                # published there, and nothing in a kwok cluster dials it
                "--endpoint-reconciler-type=none",
                f"--secure-port={p.apiserver}",
                f"--cert-dir={self.state_dir / 'apiserver-certs'}",
                f"--tls-cert-file={certs.serving_cert}",
                f"--tls-private-key-file={certs.serving_key}",
                f"--client-ca-file={certs.ca_cert}",
                f"--service-account-key-file={certs.sa_pub}",
                f"--service-account-signing-key-file={certs.sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--authorization-mode=Node,RBAC",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
            ]
        if name == "kube-controller-manager":
            return [
                self.tool("kube-controller-manager"),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p.controller_manager}",
                f"--cert-dir={self.state_dir / 'kcm-certs'}",
                f"--service-account-private-key-file={certs.sa_key}",
                f"--root-ca-file={certs.ca_cert}",
                f"--cluster-signing-cert-file={certs.ca_cert}",
                f"--cluster-signing-key-file={certs.ca_key}",
                "--controllers=*",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # the benchmark makes 100-pod StatefulSets; the default of 5 workers is for
                # real nodes that take seconds per pod anyway
                "--concurrent-statefulset-syncs=10",
                "--v=1",
            ]
        if name == "kube-scheduler":
            return [
                self.tool("kube-scheduler"),
                f"--kubeconfig={kc}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p.scheduler}",
                f"--cert-dir={self.state_dir / 'scheduler-certs'}",
                "--leader-elect=false",
                "--v=1",
            ]
        if name == "kwok":
            return [
                self.tool("kwok"),
                f"--kubeconfig={kc}",
                f"--config={KWOK_STAGES}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
                f"--server-address=127.0.0.1:{p.kwok}",
                "--cidr=10.244.0.1/16",
                "--node-ip=10.244.0.1",
            ]
        raise ValueError(name)

    def _wait_component(self, name: str, state: State, deadline: float) -> None:
        p = state.ports
        checks: dict[str, Callable[[], bool]] = {
            "etcd": lambda: _http_ok(f"http://127.0.0.1:{p.etcd}/health"),
            "kube-apiserver": lambda: self._api_ok("/readyz"),
            # the service-account controller runs: the controllers are up and talking
            "kube-controller-manager": lambda: (
                self.kubectl(
                    "get", "serviceaccount", "default", "-n", "default", check=False
                ).returncode
                == 0
            ),
            "kube-scheduler": lambda: _http_ok(f"https://127.0.0.1:{p.scheduler}/healthz"),
            "kwok": lambda: _http_ok(f"http://127.0.0.1:{p.kwok}/healthz"),
        }
        pid = state.pids[name]
        while not checks[name]():
            if not _alive(*pid):
                raise ClusterError(
                    f"{name} exited while starting ({_last_line(self.log(name))}); "
                    f"see {self.log(name)}"
                )
            if time.monotonic() > deadline:
                raise ClusterError(f"{name} did not become healthy in time; see {self.log(name)}")
            time.sleep(0.3)

    def _api_ok(self, path: str) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.state_dir / "pki" / "ca.crt"))
        ctx.load_cert_chain(
            str(self.state_dir / "pki" / "admin.crt"), str(self.state_dir / "pki" / "admin.key")
        )
        state = self.load_state()
        assert state is not None
        return _http_ok(f"https://127.0.0.1:{state.ports.apiserver}{path}", ctx)

    def _write_kubeconfig(self, certs: pki_mod.Pki, port: int) -> None:
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "stratos-dev",
                    "cluster": {
                        "server": f"https://127.0.0.1:{port}",
                        "certificate-authority": str(certs.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "stratos-admin",
                    "user": {
                        "client-certificate": str(certs.admin_cert),
                        "client-key": str(certs.admin_key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "stratos-dev",
                    "context": {"cluster": "stratos-dev", "user": "stratos-admin"},
                }
            ],
            "current-context": "stratos-dev",
        }
        self.kubeconfig.write_text(json.dumps(doc, indent=2))
        self.kubeconfig.chmod(0o600)

    def _seed(self, nodes_per_zone: int, deadline: float) -> None:
        """The fake Nodes (one or more per zone) and the default StorageClass."""
        nodes = [_node(f"kwok-{zone}-{i}", zone) for zone in ZONES for i in range(nodes_per_zone)]
        sc = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": True,
            "reclaimPolicy": "Retain",
        }
        doc = {"apiVersion": "v1", "kind": "List", "items": [*nodes, sc]}
        self.kubectl("apply", "-f", "-", stdin=json.dumps(doc))
        while True:
            ready = self.kubectl(
                "get",
                "nodes",
                "-o",
                READY_JSONPATH,
            ).stdout.split()
            if len(ready) == len(nodes) and all(s == "True" for s in ready):
                return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"kwok did not make the {len(nodes)} fake Nodes Ready in time; "
                    f"see {self.log('kwok')}"
                )
            time.sleep(0.5)

    def ensure_volumes(self, count: int) -> int:
        """At least `count` Available PersistentVolumes of the default class: Released ones
        are handed back (claim reference cleared), missing ones created. Returns how many
        are Available or being handed back."""
        pvs = self.kubectl_json("get", "pv")["items"]
        released = [
            v["metadata"]["name"]
            for v in pvs
            if v.get("status", {}).get("phase") in ("Released", "Failed")
        ]
        for name in released:
            self.kubectl(
                "patch",
                "pv",
                name,
                "--type=json",
                "-p",
                '[{"op": "remove", "path": "/spec/claimRef"}]',
                check=False,
            )
        free = sum(1 for v in pvs if v.get("status", {}).get("phase") == "Available")
        free += len(released)
        taken = {v["metadata"]["name"] for v in pvs}
        new = []
        i = 0
        while free + len(new) < count:
            name = f"pv-{i:04d}"
            if name not in taken:
                new.append(_volume(name))
            i += 1
        if new:
            self.kubectl(
                "apply",
                "-f",
                "-",
                stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": new}),
                timeout_s=120,
            )
        return free + len(new)


# -- objects ---------------------------------------------------------------------------------


def _node(name: str, zone: str) -> dict:
    capacity = {"cpu": "64", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/role": "agent",
                "type": "kwok",
                "topology.kubernetes.io/zone": zone,
            },
        },
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def _volume(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"stratos.io/dev-volume": "true"}},
        "spec": {
            "capacity": {"storage": "100Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": STORAGE_CLASS,
            # never written: kwok runs no container
            "hostPath": {"path": f"/tmp/stratos-dev-volumes/{name}"},
        },
    }


# -- processes -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The Popen of every process started here: each is stopped by pid (`down`), never waited on
# through its Popen, and a Popen dropped while its process runs is reported as a leak
# (ResourceWarning) — this list says the process is meant to outlive the call that started it.
_DETACHED: list[subprocess.Popen] = []


def _spawn(argv: list[str], log: Path) -> tuple[int, float]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # detached: outlives the command that started it
        )
    _DETACHED.append(proc)
    return proc.pid, psutil.Process(proc.pid).create_time()


def _process(pid: int, create_time: float) -> psutil.Process | None:
    """The process, only if it is still the one we started (pids get reused)."""
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > 0.01 or proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except psutil.Error:
        return None


def _alive(pid: int, create_time: float) -> bool:
    return _process(pid, create_time) is not None


def _terminate(proc: psutil.Process, grace_s: float) -> None:
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(grace_s)
    except psutil.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    except psutil.Error:
        pass


def _http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    if ctx is None and url.startswith("https"):
        ctx = ssl._create_unverified_context()  # self-signed serving certs of kcm/scheduler
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "empty log"


# -- finding the tools -----------------------------------------------------------------------


def bin_dir(build: bool) -> Path:
    """The cached tools' bin dir; with `build`, build.sh first builds whatever is missing
    (nothing, once cached)."""
    args = ["bash", str(BUILD_SH)] + ([] if build else ["--print-bin-dir"])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=3 * 3600)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise ClusterError(f"{BUILD_SH.relative_to(REPO)} failed: {tail[0]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def default(state_dir: Path | None = None, build: bool = False) -> ControlPlane:
    env_dir = os.environ.get("STRATOS_CLUSTER_DIR")
    return ControlPlane(
        state_dir or (Path(env_dir) if env_dir else DEFAULT_STATE_DIR), bin_dir(build)
    )
