"""Pure builders: a parsed StratosCluster in, the dict manifests of its children out.

Nothing here talks to the API server; `build_all` is what the handlers apply, in an order where
what a workload needs (network policies, config, services) exists before the workload.
"""

from __future__ import annotations

from typing import Any

from stratos.operator.builders import index, nats, netpol, pdb, storage, tls, validators
from stratos.operator.builders.meta import DefaultImages, child_name
from stratos.operator.builders.spec import Cluster
from stratos.operator.builders.tls import MeshCerts
from stratos.operator.builders.validators import ValidatorMaterial

__all__ = ["DefaultImages", "MeshCerts", "ValidatorMaterial", "build_all", "prunable"]


def build_all(
    cluster: Cluster,
    defaults: DefaultImages,
    *,
    certs: MeshCerts,
    storage_replicas: int | None = None,
    material: ValidatorMaterial | None = None,
) -> list[dict[str, Any]]:
    """Every child of `cluster`. `storage_replicas` (default: the spec's) is what the scale-down
    plan allows now; `material` is required when the cluster runs validators; `certs` are the
    mesh CA's (`meshcerts`), applied as Secrets before the workloads that mount them."""
    replicas = cluster.spec.storage.replicas if storage_replicas is None else storage_replicas
    return [
        *netpol.build(cluster),  # before the workloads: their pods start isolated
        *tls.secrets(cluster, certs),
        *nats.build(cluster, defaults),
        *index.build(cluster, defaults),
        *storage.build(cluster, defaults, replicas),
        *validators.build(cluster, defaults, material),
        *pdb.build(cluster),
    ]


def prunable(cluster: Cluster, desired: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of children the operator makes only for some specs and that the
    current spec does not want — a NATS budget after going down to one server, for example."""
    wanted = {(m["kind"], m["metadata"]["name"]) for m in desired}
    candidates = [
        ("policy/v1", "PodDisruptionBudget", child_name(cluster, "nats")),
        ("policy/v1", "PodDisruptionBudget", child_name(cluster, "validator")),
    ]
    return [c for c in candidates if (c[1], c[2]) not in wanted]
