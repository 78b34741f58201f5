"""One reconciliation pass of a StratosCluster: observe, plan, apply, report.

Every decision is made by a pure module (spec, builders, scaledown, status); this function only
sequences them over the `Kube`, `Drainer` and `EventSink` interfaces, so the whole pass runs in
unit tests against in-memory fakes. The kopf handlers (`handlers.py`) call it on create, update,
resume and from the drift timer; it is idempotent, and a pass that finds nothing to change
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from stratos.common.identity import Identity
from stratos.operator import identities, scaledown
from stratos.operator.builders import build_all, incentive, prunable, validators
from stratos.operator.builders.immutable import claims_to_expand, keep_claim_templates
from stratos.operator.builders.meta import DefaultImages, child_name, selector_string
from stratos.operator.builders.spec import Cluster, parse_cluster
from stratos.operator.builders.tls import ROLES, MeshCerts, ca_secret_name, tls_secret_name
from stratos.operator.drain import Drainer, DrainReport
from stratos.operator.keys import ensure_material
from stratos.operator.kube import Kube
from stratos.operator.meshcerts import ensure_certs
from stratos.operator.status import Workload, status_body, workload_from_object

WORKLOADS = {
    "nats": ("apps/v1", "StatefulSet", "nats"),
    "index": ("apps/v1", "Deployment", "index"),
    "storage": ("apps/v1", "StatefulSet", "storage"),
    "validators": ("apps/v1", "StatefulSet", "validator"),
    "incentive": ("apps/v1", "StatefulSet", "incentive"),
}


class EventSink(Protocol):
    def __call__(self, type_: str, reason: str, message: str) -> None: ...


@dataclass
class Outcome:
    """What a pass did: the new `.status`, and the children it created, changed or removed."""

    status: dict[str, Any]
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _ref(manifest: Mapping[str, Any]) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"


def _version(obj: Mapping[str, Any] | None) -> str | None:
    return (obj or {}).get("metadata", {}).get("resourceVersion")


async def _material(
    kube: Kube, cluster: Cluster, held: identities.Held
) -> validators.ValidatorMaterial | None:
    """The validator keys and the genesis; a genesis made now registers the storage nodes the
    cluster starts with under the keys in the storage identity Secret `held`, or under keys made
    with it, which `identities.ensure` then keeps."""
    if cluster.spec.validators.replicas == 0:
        return None
    ns = cluster.namespace
    secret = await kube.get("v1", "Secret", ns, validators.keys_secret_name(cluster))
    meta = await kube.get("v1", "Secret", ns, incentive.keys_secret_name(cluster))
    genesis = await kube.get("v1", "ConfigMap", ns, validators.genesis_name(cluster))
    return ensure_material(
        cluster, secret, genesis, incentive_secret=meta, storage_secret=held.storage
    )


async def _certs(kube: Kube, cluster: Cluster) -> MeshCerts:
    ns = cluster.namespace
    ca = await kube.get("v1", "Secret", ns, ca_secret_name(cluster))
    components = {c: await kube.get("v1", "Secret", ns, tls_secret_name(cluster, c)) for c in ROLES}
    return ensure_certs(cluster, ca, components)


async def reconcile(
    body: Mapping[str, Any],
    *,
    kube: Kube,
    drainer_for: Callable[[MeshCerts, Identity], Drainer],
    emit: EventSink,
    defaults: DefaultImages,
    now: str,
) -> Outcome:
    """Bring the children of the StratosCluster `body` to its spec and compute its status.
    `drainer_for` gives the drainer that speaks mutual TLS with the mesh's certificates (the
    index takes nothing else) and signs with the cluster's admin key. A bad spec raises
    `SpecError` (permanent); API trouble raises the Stratos error tree."""
    cluster = parse_cluster(body)
    ns = cluster.namespace
    previous = dict(body.get("status") or {})
    certs = await _certs(kube, cluster)
    held = await identities.observe(kube, cluster)
    admin_pem = identities.ensure_admin(held)
    drainer = drainer_for(certs, identities.admin_identity(admin_pem))

    # 1. storage scale-down: how many nodes may run now
    storage_name = child_name(cluster, "storage")
    sts = await kube.get("apps/v1", "StatefulSet", ns, storage_name)
    current = (sts or {}).get("spec", {}).get("replicas")
    reports: dict[str, DrainReport] = {}
    if not scaledown.forced(cluster):
        for node in scaledown.leaving(cluster, current):
            reports[node] = await drainer.drain(node)
    for node in scaledown.joining(cluster, current):
        await drainer.undrain(node)  # drained when it was scaled away, it takes chunks again
    decision = scaledown.decide(cluster, current, reports)
    if scaledown.worth_announcing(decision, previous.get("conditions") or []):
        assert decision.event is not None
        emit(decision.event.type, decision.event.reason, decision.event.message)

    # 2. render and apply every child. Keys first, in this order: the genesis (made once, with
    # the storage keys it registers), then the trust material that keeps those keys; `build_all`
    # puts the storage identity Secret before the genesis ConfigMap.
    material = await _material(kube, cluster, held)
    trust = identities.ensure(
        cluster,
        held,
        admin_pem,
        storage_replicas=decision.replicas,
        validator_material=material,
    )
    manifests = build_all(cluster, defaults, trust_material=trust, certs=certs, material=material)
    outcome = Outcome(status={})
    applied: dict[str, dict[str, Any]] = {}
    for manifest in manifests:
        name = manifest["metadata"]["name"]
        before = (
            sts
            if manifest["kind"] == "StatefulSet" and name == storage_name
            else await kube.get(manifest["apiVersion"], manifest["kind"], ns, name)
        )
        if manifest["kind"] == "StatefulSet":
            manifest = keep_claim_templates(manifest, before)
        after = await kube.apply(manifest)
        applied[_ref(manifest)] = after
        if before is None:
            outcome.created.append(_ref(manifest))
        elif _version(after) != _version(before):
            outcome.updated.append(_ref(manifest))
    for api_version, kind, name in prunable(cluster, manifests):
        if await kube.delete(api_version, kind, ns, name):
            outcome.removed.append(f"{kind}/{name}")

    # 3. grow existing storage claims (claim templates cannot change)
    claims = await kube.list("v1", "PersistentVolumeClaim", ns, selector_string(cluster, "storage"))
    for claim in claims_to_expand(claims, cluster.spec.storage.size):
        await kube.patch(
            "v1",
            "PersistentVolumeClaim",
            ns,
            claim,
            {"spec": {"resources": {"requests": {"storage": cluster.spec.storage.size}}}},
        )
        emit("Normal", "VolumeExpanding", f"growing {claim} to {cluster.spec.storage.size}")

    _announce(emit, outcome, healing=bool(previous.get("phase")))

    # 4. status from what the API server answered
    workloads: dict[str, Workload | None] = {
        component: workload_from_object(applied.get(f"{kind}/{child_name(cluster, suffix)}"))
        for component, (_, kind, suffix) in WORKLOADS.items()
    }
    outcome.status = status_body(
        cluster,
        workloads,
        previous=previous,
        now=now,
        scaling_down=decision.condition,
        incentive=incentive.replicas(material),
    )
    if outcome.status["phase"] != previous.get("phase"):
        emit(
            "Warning" if outcome.status["phase"] == "Degraded" else "Normal",
            f"Phase{outcome.status['phase']}",
            f"the cluster is {outcome.status['phase']}: "
            + next(c["message"] for c in outcome.status["conditions"] if c["type"] == "Ready"),
        )
    return outcome


def _announce(emit: EventSink, outcome: Outcome, *, healing: bool) -> None:
    """One event per kind of step. A child missing on a later pass was deleted by someone: the
    pass that recreates it says so (drift healed)."""
    if outcome.created:
        if healing:
            emit("Warning", "DriftHealed", "recreated " + ", ".join(outcome.created))
        else:
            emit("Normal", "Created", "created " + ", ".join(outcome.created))
    if outcome.updated:
        emit("Normal", "Updated", "updated " + ", ".join(outcome.updated))
    if outcome.removed:
        emit("Normal", "Removed", "removed " + ", ".join(outcome.removed))
