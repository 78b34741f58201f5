"""Shared helpers of the operator tests: a StratosCluster body, the CRD's defaults applied the
way the API server applies them, and an in-memory index (the API server's stand-in is
`fake_kube.py`)."""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from stratos.operator.builders.tls import TLS_DIR, MeshCerts
from stratos.operator.drain import DrainReport, DrainState
from stratos.operator.meshcerts import ensure_certs

REPO = Path(__file__).resolve().parents[2]
CRD_PATH = REPO / "charts" / "stratos" / "crds" / "stratosclusters.yaml"


_CERTS: dict[tuple[str, str], MeshCerts] = {}


def certs_of(cluster) -> MeshCerts:
    """One set per cluster name, so building twice gives the same Secrets."""
    key = (cluster.name, cluster.namespace)
    if key not in _CERTS:
        _CERTS[key] = ensure_certs(cluster, None, {})
    return _CERTS[key]


def write_secret(secret: Mapping[str, Any], directory: Path) -> Path:
    """The files a pod would see where it mounts `secret`, written under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in secret["data"].items():
        (directory / name).write_bytes(base64.b64decode(value))
    return directory


def tls_mounted(kids: Mapping[tuple[str, str], Any], component: str, tmp: Path) -> Path:
    """The component's TLS Secret written where a test stands in for TLS_DIR."""
    return write_secret(kids[("Secret", f"demo-{component}-tls")], tmp / f"{component}-tls")


def in_test_dir(text: str, tls_dir: Path) -> str:
    """`text` (a config, a variable) with the pod's TLS_DIR replaced by the test's."""
    return text.replace(TLS_DIR, str(tls_dir))


def load_crd() -> dict[str, Any]:
    return yaml.safe_load(CRD_PATH.read_text())


def crd_schema() -> dict[str, Any]:
    return load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """Structural defaulting as the API server does it: a missing property with a default gets
    it, then defaults apply inside it."""
    if not isinstance(value, dict) or schema.get("type") != "object":
        return value
    out = dict(value)
    for name, sub in (schema.get("properties") or {}).items():
        if name not in out and "default" in sub:
            out[name] = copy.deepcopy(sub["default"])
        if name in out:
            out[name] = apply_defaults(sub, out[name])
    return out


def cluster_body(spec: Mapping[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    """A StratosCluster as the API server stores it (CRD defaults applied)."""
    body = {
        "apiVersion": "stratos.io/v1alpha1",
        "kind": "StratosCluster",
        "metadata": {
            "name": "demo",
            "namespace": "mesh",
            "uid": "1234-uid",
            "generation": 1,
            **meta,
        },
        "spec": copy.deepcopy(dict(spec or {})),
    }
    return apply_defaults(crd_schema(), body)


class FakeDrainer:
    """An index that drains a node after `steps` calls, or refuses the nodes in `refuse`."""

    def __init__(self, steps: int = 1, refuse: Mapping[str, str] | None = None) -> None:
        self.steps = steps
        self.refuse = dict(refuse or {})
        self.calls: dict[str, int] = {}
        self.undrained: list[str] = []

    async def undrain(self, node_id: str) -> None:
        self.undrained.append(node_id)
        self.calls.pop(node_id, None)

    async def drain(self, node_id: str) -> DrainReport:
        self.calls[node_id] = self.calls.get(node_id, 0) + 1
        if node_id in self.refuse:
            return DrainReport(DrainState.REFUSED, self.refuse[node_id])
        if self.calls[node_id] >= self.steps:
            return DrainReport(DrainState.DRAINED)
        return DrainReport(DrainState.DRAINING, "moving chunks")


def new_trust(cluster, material=None, *, storage_replicas=None, held=None):
    """The trust material the operator makes on a cluster's first pass (or, with `held`, on a
    later one): fresh keys, NATS users and a signed admission list."""
    from stratos.operator.identities import Held, ensure, ensure_admin

    held = held or Held()
    replicas = cluster.spec.storage.replicas if storage_replicas is None else storage_replicas
    return ensure(
        cluster,
        held,
        ensure_admin(held),
        storage_replicas=replicas,
        validator_material=material,
    )
