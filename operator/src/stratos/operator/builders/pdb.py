"""PodDisruptionBudgets sized to each component's quorum, so a node drain or cluster upgrade never
evicts more pods than the component can lose and keep working.

- validators: BFT with n = 3f+1 tolerates f = (n-1)//3 faulty validators → maxUnavailable f;
- NATS (JetStream RAFT): a majority must stay → maxUnavailable (n-1)//2;
- storage: a chunk has `replication` copies on distinct nodes; with R-1 nodes down every chunk
  still has one readable copy → maxUnavailable R-1;
- index: stateless → maxUnavailable 1.

A budget of 0 would block every voluntary eviction forever (node drains hang), so where the
math gives 0 (a single validator or NATS server, R = 1) no budget is made for quorum components,
and storage falls back to 1 (a node's data comes back with it: its volume outlives the pod).
"""

from __future__ import annotations

from typing import Any

from stratos.operator.builders.meta import metadata, selector_labels
from stratos.operator.builders.spec import Cluster


def bft_faults(validators: int) -> int:
    """f: how many of n validators may fail while consensus stays safe and live."""
    return max(0, (validators - 1) // 3)


def raft_faults(servers: int) -> int:
    """How many of n RAFT members may fail while a majority remains."""
    return max(0, (servers - 1) // 2)


def storage_max_unavailable(replication: int) -> int:
    return max(1, replication - 1)


def budget(cluster: Cluster, component: str, max_unavailable: int) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(cluster, component),
        "spec": {
            "maxUnavailable": max_unavailable,
            "selector": {"matchLabels": selector_labels(cluster, component)},
            # a pod that is not ready yet may be evicted: it serves nobody
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def build(cluster: Cluster) -> list[dict[str, Any]]:
    spec = cluster.spec
    out = [
        budget(cluster, "storage", storage_max_unavailable(spec.replication)),
        budget(cluster, "index", 1),
    ]
    if f := raft_faults(spec.nats.replicas):
        out.append(budget(cluster, "nats", f))
    if f := bft_faults(spec.validators.replicas):
        out.append(budget(cluster, "validator", f))
    return out
