"""An in-memory API server behind the operator's `Kube` port, for unit tests.

It does what `kube_contract.py` checks the real kube-apiserver does, so that a reconcile pass
that works here works there:
- server-side apply by one field manager: fields it applied before and no longer applies go,
  fields other writers set stay, a field another write changed is no longer its own; an apply
  that changes nothing writes nothing (the resourceVersion stays);
- every write moves the resourceVersion (one counter for all objects, like etcd's revision);
  `generation` exists on workloads and budgets only, and moves with their `spec`;
- JSON merge patches (RFC 7386: `null` deletes);
- a `metadata.resourceVersion` in a write is a precondition: a stale one is a conflict (409);
- not-found answers: `get` → None, `delete` → False, a patch → `NotFound`, and an apply into
  a namespace that does not exist → `NotFound`;
- list items without `apiVersion`/`kind`, as a list response carries them;
- immutable fields refused (422 → `InvalidArgument`): an immutable ConfigMap's or Secret's data,
  a StatefulSet's volumeClaimTemplates.
It also stands in for the controllers: workloads report their replicas ready (`ready=True`) and
a StatefulSet's claims appear. Simplified on purpose: lists are atomic values for field
ownership (the server merges keyed lists such as containers by name), and no defaults are
filled in (a Service's clusterIP, a Secret's type).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from stratos.common.errors import InvalidArgument, NotFound, Unavailable
from stratos.operator.kube import resource_path

Path = tuple[str, ...]

# kinds whose metadata.generation the API server keeps (and moves when their spec changes)
GENERATION_KINDS = {"StatefulSet", "Deployment", "PodDisruptionBudget"}
# metadata fields the server writes; a manifest's are preconditions or ignored
SERVER_META = ("resourceVersion", "generation", "uid", "creationTimestamp")


def leaf_paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every path to a non-map value (lists count as one value); an empty map is a leaf too."""
    if isinstance(value, Mapping) and value:
        for key, sub in value.items():
            yield from leaf_paths(sub, (*prefix, key))
    elif prefix:
        yield prefix


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge key by key, `None` deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def remove_path(obj: dict[str, Any], path: Path) -> None:
    """Delete `path`, then every map it leaves empty (the server omits empty maps)."""
    parents = [obj]
    for key in path[:-1]:
        child = parents[-1].get(key)
        if not isinstance(child, dict):
            return
        parents.append(child)
    parents[-1].pop(path[-1], None)
    for parent, key in zip(reversed(parents[:-1]), reversed(path[:-1]), strict=True):
        if parent.get(key) == {}:
            del parent[key]


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a write can change: everything but status and the server's metadata."""
    out = {k: v for k, v in obj.items() if k != "status"}
    out["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in SERVER_META}
    return out


def _applied(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an apply sets: not the identity, not the server's metadata."""
    out = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind", "status")}
    meta = {
        k: v
        for k, v in manifest["metadata"].items()
        if k not in (*SERVER_META, "name", "namespace")
    }
    return {**out, "metadata": meta}


class FakeKube:
    """`Kube` in memory; `objects` by API path, `applied` and `patched` record the calls."""

    def __init__(self, *, ready: bool = True, namespaces: tuple[str, ...] = ("mesh",)) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.ready = ready
        self.namespaces = set(namespaces)
        self.version = 0
        self.applied: list[str] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []
        self._owned: dict[str, set[Path]] = {}  # key → the paths our field manager applied
        self._uids = itertools.count(1)

    def _key(self, api_version: str, kind: str, ns: str, name: str) -> str:
        return resource_path(api_version, kind, ns, name)

    def _bump(self, obj: dict[str, Any]) -> None:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)

    @staticmethod
    def _precondition(what: str, current: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            # the API server's 409, mapped the way ApiKube maps it
            raise Unavailable(
                f"{what}: 409 Operation cannot be fulfilled: the object has been modified"
            )

    def _write(self, key: str, old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
        """Store `new` unless it changes nothing; server metadata moves as the API server's."""
        if old is not None and _content(old) == _content(new):
            return copy.deepcopy(old)
        meta = new["metadata"]
        if old is None:
            meta["uid"] = f"fake-uid-{next(self._uids)}"
        if new["kind"] in GENERATION_KINDS:
            if old is None:
                meta["generation"] = 1
            elif old["spec"] != new["spec"]:
                meta["generation"] = old["metadata"]["generation"] + 1
        self._bump(new)
        self._settle(new)
        self.objects[key] = new
        return copy.deepcopy(new)

    def _refuse_immutable(self, what: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        if old.get("immutable") and (old.get("data"), old.get("stringData")) != (
            new.get("data"),
            new.get("stringData"),
        ):
            raise InvalidArgument(f"{what}: 422 data: Forbidden: field is immutable")
        if old["kind"] == "StatefulSet" and old["spec"].get("volumeClaimTemplates") != new[
            "spec"
        ].get("volumeClaimTemplates"):
            raise InvalidArgument(f"{what}: 422 spec.volumeClaimTemplates: field is immutable")

    async def get(self, api_version, kind, namespace, name):
        obj = self.objects.get(self._key(api_version, kind, namespace, name))
        return copy.deepcopy(obj) if obj else None

    async def apply(self, manifest):
        m = manifest["metadata"]
        kind, name, ns = manifest["kind"], m["name"], m["namespace"]
        key = self._key(manifest["apiVersion"], kind, ns, name)
        what = f"apply {kind} {name}"
        self.applied.append(key)
        if ns not in self.namespaces:
            raise NotFound(f'{what}: 404 namespaces "{ns}" not found')
        old = self.objects.get(key)
        fields = _applied(manifest)
        if old is None:
            self._owned.pop(key, None)  # deleted behind our back: nothing of it is ours now
            new = {"apiVersion": manifest["apiVersion"], "kind": kind, "metadata": {}}
        else:
            self._precondition(what, old, manifest)
            new = copy.deepcopy(old)
        applying = set(leaf_paths(fields))
        for path in self._owned.get(key, set()) - applying:
            remove_path(new, path)
        new = merge_patch(new, fields)
        new["metadata"] |= {"name": name, "namespace": ns}
        if old is not None:
            self._refuse_immutable(what, old, new)
        self._owned[key] = applying
        return self._write(key, old, new)

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
                for tpl in obj["spec"].get("volumeClaimTemplates") or []:
                    claim = f"{tpl['metadata']['name']}-{obj['metadata']['name']}-{i}"
                    key = self._key(
                        "v1", "PersistentVolumeClaim", obj["metadata"]["namespace"], claim
                    )
                    if key in self.objects:
                        continue
                    pvc = {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {
                            "name": claim,
                            "namespace": obj["metadata"]["namespace"],
                            "labels": dict(obj["spec"]["template"]["metadata"]["labels"]),
                        },
                        "spec": copy.deepcopy(tpl["spec"]),
                    }
                    self._bump(pvc)
                    self.objects[key] = pvc

    async def patch(self, api_version, kind, namespace, name, body):
        key = self._key(api_version, kind, namespace, name)
        what = f"patch {kind} {name}"
        self.patched.append((key, dict(body)))
        old = self.objects.get(key)
        if old is None:
            raise NotFound(f'{what}: 404 {kind} "{name}" not found')
        self._precondition(what, old, body)
        new = merge_patch(copy.deepcopy(old), body)
        new["metadata"] |= {k: old["metadata"][k] for k in SERVER_META if k in old["metadata"]}
        self._refuse_immutable(what, old, new)
        written = self._write(key, old, new)
        if written["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"]:
            # another write took the fields it changed: a later apply no longer removes them
            self._owned[key] = self._owned.get(key, set()) - set(leaf_paths(body))
        return written

    async def delete(self, api_version, kind, namespace, name):
        key = self._key(api_version, kind, namespace, name)
        self._owned.pop(key, None)
        return self.objects.pop(key, None) is not None

    async def list(self, api_version, kind, namespace, selector):
        prefix = resource_path(api_version, kind, namespace) + "/"
        return [
            {k: copy.deepcopy(v) for k, v in o.items() if k not in ("apiVersion", "kind")}
            for k, o in self.objects.items()
            if k.startswith(prefix) and _selects(selector, o["metadata"].get("labels") or {})
        ]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        for obj in self.objects.values():
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        return None


def _selects(selector: str, labels: Mapping[str, str]) -> bool:
    """Equality-based label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`, comma = and); an
    empty selector selects everything. Set-based ones (`in`, `notin`) are not modelled."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if " in " in term or " notin " in term:
            raise AssertionError(f"FakeKube does not model set-based selectors: {term!r}")
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True
