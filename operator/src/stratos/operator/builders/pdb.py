"""PodDisruptionBudgets sized to each component's quorum, so a node drain or cluster upgrade never
evicts more pods than the component can lose and keep working.

- validators: BFT with n = 3f+1 tolerates f = (n-1)//3 faulty validators → maxUnavailable f;
- NATS (JetStream RAFT): a majority must stay → maxUnavailable (n-1)//2;
- storage: a chunk has `replication` copies on distinct nodes; with R-1 nodes down every chunk
  still has one readable copy → maxUnavailable R-1;
- index: stateless → maxUnavailable 1;
- incentive: an epoch settles with the signatures of ⌈2/3⌉ of the meta nodes → minAvailable
  ⌈2n/3⌉ (`incentive.quorum`) of the n replicas that run.

A budget of 0 would block every voluntary eviction forever (node drains hang), so where the
math gives 0 (a single validator or NATS server, R = 1, one or two incentive replicas) no budget
is made for quorum components, and storage falls back to 1 (a node's data comes back with it:
its volume outlives the pod).
"""

from __future__ import annotations

from typing import Any

from stratos.operator.builders.incentive import quorum
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


def budget(
    cluster: Cluster,
    component: str,
    max_unavailable: int | None = None,
    *,
    min_available: int | None = None,
) -> dict[str, Any]:
    """A budget of exactly one of `max_unavailable` and `min_available`."""
    if (max_unavailable is None) == (min_available is None):
        raise ValueError("a budget has exactly one of maxUnavailable and minAvailable")
    limit = (
        {"maxUnavailable": max_unavailable}
        if min_available is None
        else {"minAvailable": min_available}
    )
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(cluster, component),
        "spec": {
            **limit,
            "selector": {"matchLabels": selector_labels(cluster, component)},
            # a pod that is not ready yet may be evicted: it serves nobody
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def build(cluster: Cluster, incentive_replicas: int = 0) -> list[dict[str, Any]]:
    """`incentive_replicas`: the ones that run (`incentive.replicas(material)`)."""
    spec = cluster.spec
    out = [
        budget(cluster, "storage", storage_max_unavailable(spec.replication)),
        budget(cluster, "index", 1),
    ]
    if f := raft_faults(spec.nats.replicas):
        out.append(budget(cluster, "nats", f))
    if f := bft_faults(spec.validators.replicas):
        out.append(budget(cluster, "validator", f))
    if quorum(incentive_replicas) < incentive_replicas:
        out.append(budget(cluster, "incentive", min_available=quorum(incentive_replicas)))
    return out
