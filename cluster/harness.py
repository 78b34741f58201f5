"""What the cluster tests and the operator benchmark run next to the control plane: the
operator as a local process (kwok pods run no container, so it cannot run as a pod here), a
real local index for the drain API, and small helpers over kubectl and helm."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cluster.controlplane import REPO, ClusterError, ControlPlane, _free_port, _last_line

BIN = Path(sys.executable).parent


def wait_for(
    predicate: Callable[[], Any], *, timeout_s: float, what: str, interval_s: float = 0.5
) -> Any:
    """Poll until `predicate` returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


def helm(cp: ControlPlane, *args: str, check: bool = True, timeout_s: float = 120):
    proc = subprocess.run(
        [cp.tool("helm"), *args],
        capture_output=True,
        text=True,
        env=cp.env(),
        cwd=REPO,
        timeout=timeout_s,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


# The restricted Pod Security profile, enforced by the API server's PodSecurity admission for
# every pod created in a namespace labelled so (what the chart's docs ask of a real install).
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": "latest",
}


def restricted_namespace(cp: ControlPlane, name: str) -> str:
    """Create (or label) namespace `name` so that it admits only restricted pods."""
    doc = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": RESTRICTED},
    }
    cp.kubectl("apply", "-f", "-", stdin=json.dumps(doc))
    return name


def install_chart(cp: ControlPlane, namespace: str = "stratos-system") -> None:
    """`helm install stratos charts/stratos` unless the release is already there, into a
    namespace that enforces the restricted Pod Security profile."""
    if helm(cp, "status", "stratos", "-n", namespace, check=False).returncode == 0:
        return
    restricted_namespace(cp, namespace)
    helm(cp, "install", "stratos", "charts/stratos", "-n", namespace)
    cp.kubectl(
        "wait", "--for=condition=Established", "crd/stratosclusters.stratos.io", "--timeout=60s"
    )


def get(cp: ControlPlane, kind: str, name: str, namespace: str) -> dict | None:
    proc = cp.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def events(cp: ControlPlane, namespace: str, name: str) -> list[dict]:
    """Events about the StratosCluster `name`, oldest first.

    Ordered by `eventTime` (microseconds) where the poster set it, as kopf does: the
    `lastTimestamp` the API server keeps has whole seconds only, and two events of one
    second would otherwise come back in the arbitrary order of their generated names.
    """
    items = cp.kubectl_json(
        "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )["items"]
    return sorted(items, key=_event_time)


def _event_time(event: dict) -> datetime:
    stamp = event.get("eventTime") or event.get("lastTimestamp") or event.get("firstTimestamp")
    if not stamp:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def condition(obj: dict | None, kind: str) -> dict:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return c
    return {}


@dataclass
class Operator:
    """`python -m stratos.operator` against the control plane, with its own ports and log."""

    cp: ControlPlane
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    metrics_port: int = 0
    liveness_port: int = 0

    def start(self, timeout_s: float = 60) -> Operator:
        self.metrics_port, self.liveness_port = _free_port(), _free_port()
        env = {
            **self.cp.env(),
            "STRATOS_METRICS_PORT": str(self.metrics_port),
            "STRATOS_LIVENESS_PORT": str(self.liveness_port),
            "STRATOS_LOG_LEVEL": "info",
            **self.env,
        }
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stratos.operator"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_for(
            lambda: self._alive_or_raise() and self._ok("liveness", "/healthz"),
            timeout_s=timeout_s,
            what=f"the operator's /healthz (log: {self.log})",
        )
        return self

    def _alive_or_raise(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise ClusterError(
                f"the operator exited with {self.proc.returncode} ({_last_line(self.log)}); "
                f"see {self.log}"
            )
        return True

    def _ok(self, which: str, path: str) -> bool:
        port = self.liveness_port if which == "liveness" else self.metrics_port
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def metrics(self) -> dict[str, float]:
        """Prometheus samples summed by metric name (labels dropped)."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, _, value = line.rpartition(" ")
            name = name_labels.split("{", 1)[0]
            out[name] = out.get(name, 0.0) + float(value)
        return out

    def stop(self, grace_s: float = 10) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@dataclass
class LocalIndex:
    """A real local mesh (`stratos dev up --validators 0`: nats-server, the index, one storage
    node) plus storage processes named like the StatefulSet's pods (`<cluster>-storage-<i>`),
    since the operator drains a node by its pod name: the index the operator's drainer asks."""

    home: Path
    env: dict[str, str]
    extra: dict[str, subprocess.Popen] = field(default_factory=dict)
    address: str = ""
    nats_url: str = ""

    @classmethod
    def start(cls, root: Path, **extra_env: str) -> LocalIndex:
        home = root / "stratos-home"
        env = {**os.environ, "STRATOS_HOME": str(home), **extra_env}
        env.pop("STRATOS_INDEX_ADDRESS", None)
        mesh = cls(home, env)
        mesh.stratos("dev", "up", "--storage-nodes", "1", "--validators", "0", timeout_s=180)
        from stratos.sdk.home import Home
        from stratos.sdk.meshfile import load
        from stratos.sdk.meshplan import INDEX, NATS

        records = load(Home(home)) or []
        mesh.address = next(r.address for r in records if r.kind == INDEX)
        mesh.nats_url = "nats://" + next(r.address for r in records if r.kind == NATS)
        return mesh

    def stratos(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(BIN / "stratos"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"stratos {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}"
            )
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.stratos(*args, "--json").stdout)

    def credentials(self):
        from stratos.sdk.home import Home
        from stratos.sdk.meshtls import local_client_tls

        return local_client_tls(Home(self.home)).channel_credentials()

    def share_ca(self, cp: ControlPlane, namespace: str, cluster: str) -> None:
        """Give the cluster `cluster` this mesh's CA (as the Secret the operator keeps it in), so
        the certificate the operator issues itself is one this index accepts."""
        tls = self.home / "run" / "tls"
        cp.kubectl(
            "create", "secret", "generic", f"{cluster}-mesh-ca", "-n", namespace,
            f"--from-file=ca.pem={tls / 'ca.pem'}", f"--from-file=ca.key={tls / 'ca.key'}",
        )  # fmt: skip

    def add_node(self, node_id: str, zone: str) -> None:
        from stratos.common.identity import load_or_create
        from stratos.sdk.home import Home
        from stratos.sdk.mesh_trust import admit_extra
        from stratos.sdk.meshtls import issue_local
        from stratos.v1 import auth_pb2

        data = self.home / "named" / node_id
        data.mkdir(parents=True, exist_ok=True)
        key = load_or_create(data / "identity.pem").public_bytes
        # admitted, as the mesh's admin would before the node starts
        trust = admit_extra(Home(self.home), node_id, auth_pb2.MESH_ROLE_STORAGE, key)
        trust.update(self._nats_user(node_id))
        env = {
            **self.env,
            **issue_local(Home(self.home), [(node_id, "storage")])[node_id].env(),
            "STRATOS_NATS_URL": self.nats_url,
            "STRATOS_GRPC_ADDRESS": f"127.0.0.1:{_free_port()}",
            "STRATOS_NODE_ID": node_id,
            "STRATOS_DATA_DIR": str(data),
            "STRATOS_CAPACITY_BYTES": str(1 << 30),
            "STRATOS_ZONE": zone,
            **trust,
        }
        with open(data.parent / f"{node_id}.log", "ab") as out:
            self.extra[node_id] = subprocess.Popen(
                [sys.executable, "-m", "stratos.storage"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _nats_user(self, node_id: str) -> dict[str, str]:
        """A NATS user for a storage node the launcher did not start, added to the running
        server's config as `dev add-storage` adds one; the variables it signs in with."""
        from stratos.common.nats_roles import Role
        from stratos.sdk import meshnats
        from stratos.sdk.home import Home
        from stratos.sdk.meshfile import load
        from stratos.sdk.meshplan import NATS
        from stratos.sdk.meshtls import tls_dir
        from stratos.sdk.procctl import live_process

        home = Home(self.home)
        records = load(home) or []
        login = meshnats.security(home.run_dir, tls_dir(home)).env(Role.STORAGE, node_id)
        meshnats.secure(home.run_dir, records, tls_dir(home))  # the config names every user
        nats = next(r for r in records if r.kind == NATS)
        if (p := live_process(nats)) is not None:
            meshnats.reload(nats, p.pid)
        return login

    @property
    def admin_key_file(self) -> Path:
        """The local mesh's admin key: the operator signs its drains with it."""
        from stratos.sdk.home import Home
        from stratos.sdk.mesh_trust import admin_key_file

        return admin_key_file(Home(self.home).run_dir)

    def live_nodes(self) -> set[str]:
        from stratos.sdk.procctl import list_nodes
        from stratos.v1 import types_pb2

        nodes = list_nodes(self.address, self.credentials()) or {}
        return {n for n, s in nodes.items() if s.state == types_pb2.NODE_STATE_LIVE}

    def drain_state(self, node_id: str) -> str:
        import grpc

        from stratos.v1 import index_pb2, index_pb2_grpc

        with grpc.secure_channel(self.address, self.credentials()) as ch:
            st = index_pb2_grpc.IndexServiceStub(ch).GetDrainStatus(
                index_pb2.GetDrainStatusRequest(node_id=node_id), timeout=5
            )
        return index_pb2.DrainState.Name(st.state)

    def stop(self) -> None:
        for proc in self.extra.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.extra.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        subprocess.run(
            [str(BIN / "stratos"), "dev", "down"], env=self.env, capture_output=True, timeout=90
        )
