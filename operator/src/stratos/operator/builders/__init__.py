"""Pure builders: a parsed StratosCluster in, the dict manifests of its children out.

Nothing here talks to the API server; `build_all` is what the handlers apply, in an order where
what a workload needs (network policies, config, services) exists before the workload.
"""

from __future__ import annotations

from typing import Any

from stratos.operator.builders import (
    incentive,
    index,
    nats,
    netpol,
    pdb,
    storage,
    tls,
    trust,
    validators,
)
from stratos.operator.builders.meta import DefaultImages, child_name
from stratos.operator.builders.spec import Cluster
from stratos.operator.builders.tls import MeshCerts
from stratos.operator.builders.trust import TrustMaterial
from stratos.operator.builders.validators import ValidatorMaterial

__all__ = [
    "DefaultImages",
    "MeshCerts",
    "TrustMaterial",
    "ValidatorMaterial",
    "build_all",
    "prunable",
]


def build_all(
    cluster: Cluster,
    defaults: DefaultImages,
    *,
    trust_material: TrustMaterial,
    certs: MeshCerts,
    material: ValidatorMaterial | None = None,
) -> list[dict[str, Any]]:
    """Every child of `cluster`. `trust_material` (keys, NATS users, the admission list) says
    how many storage nodes run now (what the scale-down plan allows); `certs` are the mesh CA's
    (`meshcerts`), applied as Secrets before the workloads that mount them; `material` is
    required when the cluster runs validators."""
    replicas = trust_material.storage_replicas
    admin_key = trust_material.admin_public_hex
    return [
        *netpol.build(cluster),  # before the workloads: their pods start isolated
        *tls.secrets(cluster, certs),
        *trust.build(cluster, trust_material),  # before the pods that mount it
        *nats.build(
            cluster,
            defaults,
            trust.nats_users(cluster, trust_material),
            certs.components[nats.COMPONENT],
        ),
        *index.build(cluster, defaults, admin_key),
        *storage.build(cluster, defaults, replicas, admin_key),
        *incentive.secrets(cluster, material),  # before the genesis that names their addresses
        *validators.build(cluster, defaults, material),
        *incentive.build(cluster, defaults, material, admin_key),
        *pdb.build(cluster, incentive.replicas(material)),
    ]


def prunable(cluster: Cluster, desired: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of children the operator makes only for some specs and that the
    current spec does not want — a NATS budget after going down to one server, for example."""
    wanted = {(m["kind"], m["metadata"]["name"]) for m in desired}
    candidates = [
        ("policy/v1", "PodDisruptionBudget", child_name(cluster, "nats")),
        ("policy/v1", "PodDisruptionBudget", child_name(cluster, "validator")),
        ("policy/v1", "PodDisruptionBudget", child_name(cluster, "incentive")),
    ]
    return [c for c in candidates if (c[1], c[2]) not in wanted]
