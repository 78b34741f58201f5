"""Shared helpers of the operator tests: a StratosCluster body, the CRD's defaults applied the
way the API server applies them, and in-memory stand-ins for the API server and the index."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from stratos.operator.drain import DrainReport, DrainState
from stratos.operator.kube import resource_path

REPO = Path(__file__).resolve().parents[2]
CRD_PATH = REPO / "charts" / "stratos" / "crds" / "stratosclusters.yaml"


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


class FakeKube:
    """The API server's behaviour the operator relies on: server-side apply creates or merges
    (resourceVersion moves only when something changed), workload controllers mark pods ready
    (`ready=True`), claims appear for StatefulSet ordinals, deletes and merge patches."""

    def __init__(self, *, ready: bool = True) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.ready = ready
        self.version = 0
        self.applied: list[str] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []

    def _key(self, api_version: str, kind: str, ns: str, name: str) -> str:
        return resource_path(api_version, kind, ns, name)

    def _bump(self, obj: dict[str, Any]) -> None:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)

    async def get(self, api_version, kind, namespace, name):
        obj = self.objects.get(self._key(api_version, kind, namespace, name))
        return copy.deepcopy(obj) if obj else None

    async def apply(self, manifest):
        m = manifest["metadata"]
        key = self._key(manifest["apiVersion"], manifest["kind"], m["namespace"], m["name"])
        self.applied.append(key)
        old = self.objects.get(key)
        new = copy.deepcopy(dict(manifest))
        if old is not None:
            if old["kind"] == "StatefulSet" and json.dumps(
                old["spec"]["volumeClaimTemplates"]
            ) != json.dumps(new["spec"]["volumeClaimTemplates"]):
                raise AssertionError("volumeClaimTemplates are immutable (422 in a real cluster)")
            if old.get("immutable") and old.get("data") != new.get("data"):
                raise AssertionError("an immutable Secret/ConfigMap cannot change")
            unchanged = {k: v for k, v in old.items() if k != "status"}
            unchanged["metadata"] = {
                k: v
                for k, v in old["metadata"].items()
                if k not in ("resourceVersion", "generation")
            }
            if json.dumps(unchanged, sort_keys=True) == json.dumps(new, sort_keys=True):
                return copy.deepcopy(old)
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        else:
            new["metadata"]["generation"] = 1
        self._bump(new)
        self._settle(new)
        self.objects[key] = new
        return copy.deepcopy(new)

    def _settle(self, obj: dict[str, Any]) -> None:
        if obj["kind"] not in ("StatefulSet", "Deployment"):
            return
        n = obj["spec"]["replicas"] if self.ready else 0
        obj["status"] = {
            "observedGeneration": obj["metadata"]["generation"],
            "replicas": obj["spec"]["replicas"],
            "readyReplicas": n,
            "updatedReplicas": n,
        }
        if obj["kind"] == "StatefulSet":
            for i in range(obj["spec"]["replicas"]):
                for tpl in obj["spec"]["volumeClaimTemplates"]:
                    claim = f"{tpl['metadata']['name']}-{obj['metadata']['name']}-{i}"
                    key = self._key(
                        "v1", "PersistentVolumeClaim", obj["metadata"]["namespace"], claim
                    )
                    self.objects.setdefault(
                        key,
                        {
                            "apiVersion": "v1",
                            "kind": "PersistentVolumeClaim",
                            "metadata": {
                                "name": claim,
                                "namespace": obj["metadata"]["namespace"],
                                "labels": dict(obj["spec"]["template"]["metadata"]["labels"]),
                            },
                            "spec": copy.deepcopy(tpl["spec"]),
                        },
                    )

    async def patch(self, api_version, kind, namespace, name, body):
        key = self._key(api_version, kind, namespace, name)
        self.patched.append((key, dict(body)))
        obj = self.objects[key]
        obj["spec"]["resources"]["requests"].update(body["spec"]["resources"]["requests"])
        return copy.deepcopy(obj)

    async def delete(self, api_version, kind, namespace, name):
        return self.objects.pop(self._key(api_version, kind, namespace, name), None) is not None

    async def list(self, api_version, kind, namespace, selector):
        want = dict(part.split("=", 1) for part in selector.split(","))
        prefix = resource_path(api_version, kind, namespace) + "/"
        return [
            copy.deepcopy(o)
            for k, o in self.objects.items()
            if k.startswith(prefix)
            and all(o["metadata"].get("labels", {}).get(a) == b for a, b in want.items())
        ]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        for obj in self.objects.values():
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        return None


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
