"""Storage scale-down as a plan: drain the highest ordinals first, lower the StatefulSet's
replicas only past nodes that are fully drained, and stop — without touching anything else —
when the index refuses a drain.

A StatefulSet always removes its highest ordinals, so those are the ones drained. They are all
asked at once (the index keeps draining nodes out of placement, so no chunk moves onto a node
that is leaving next), and replicas drop by the number of drained nodes counted from the top.

The annotation `stratos.io/force-scale-down: "true"` skips draining: the nodes go at once and
their chunks are left to repair (issue 4) — data with fewer copies than `replication` until then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stratos.operator.builders import storage
from stratos.operator.builders.spec import Cluster
from stratos.operator.drain import DrainReport, DrainState
from stratos.operator.status import Condition

FORCE_ANNOTATION = "stratos.io/force-scale-down"


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    replicas: int  # what the storage StatefulSet may run now
    condition: Condition
    event: Event | None = None


IDLE = Condition("ScalingDown", False, "Idle", "no storage node is leaving")


def forced(cluster: Cluster) -> bool:
    return cluster.annotations.get(FORCE_ANNOTATION, "").lower() in ("true", "yes", "1")


def leaving(cluster: Cluster, current: int | None) -> list[str]:
    """Node IDs that must leave to go from `current` replicas to the spec's, highest first."""
    desired = cluster.spec.storage.replicas
    if current is None or desired >= current:
        return []
    return [storage.node_id(cluster, i) for i in range(current - 1, desired - 1, -1)]


def joining(cluster: Cluster, current: int | None) -> list[str]:
    """Node IDs that come (back) when going from `current` replicas up to the spec's: an
    ordinal scaled away earlier was drained, and must take chunks again."""
    desired = cluster.spec.storage.replicas
    if current is None or desired <= current:
        return []
    return [storage.node_id(cluster, i) for i in range(current, desired)]


def decide(cluster: Cluster, current: int | None, reports: Mapping[str, DrainReport]) -> Decision:
    """How many storage replicas to run now, given the drain reports of the leaving nodes."""
    desired = cluster.spec.storage.replicas
    nodes = leaving(cluster, current)
    if not nodes:
        return Decision(desired, IDLE)
    assert current is not None
    if forced(cluster):
        msg = (
            f"{FORCE_ANNOTATION} is set: removed {', '.join(nodes)} without draining; their "
            "chunks are below their redundancy target until repaired"
        )
        return Decision(
            desired,
            Condition("ScalingDown", False, "Forced", msg),
            Event("Warning", "ScaleDownForced", msg),
        )
    if desired < cluster.spec.replication:
        msg = (
            f"refusing to go below {cluster.spec.replication} storage nodes "
            f"(spec.replication); staying at {current}"
        )
        return Decision(
            current,
            Condition("ScalingDown", False, "WouldBreakRedundancy", msg),
            Event("Warning", "ScaleDownRefused", msg),
        )
    drained = _drained_from_top(nodes, reports)
    replicas = current - drained
    refused = [n for n in nodes if _state(reports, n) is DrainState.REFUSED]
    if refused:
        why = "; ".join(f"{n}: {reports[n].message or 'refused'}" for n in refused)
        msg = (
            f"drain refused ({why}); storage stays at {replicas} nodes. Fix the cause, or set "
            f'the annotation {FORCE_ANNOTATION}="true" to remove the nodes without draining'
        )
        return Decision(
            replicas,
            Condition("ScalingDown", False, "DrainRefused", msg),
            Event("Warning", "DrainRefused", msg),
        )
    if replicas == desired:
        msg = f"drained {', '.join(nodes)}; storage scaled down from {current} to {desired}"
        return Decision(
            desired,
            Condition("ScalingDown", False, "Complete", msg),
            Event("Normal", "ScaledDown", msg),
        )
    waiting = [n for n in nodes if _state(reports, n) is not DrainState.DRAINED]
    msg = (
        f"draining {', '.join(waiting)} before lowering storage from {current} to {desired} "
        f"({len(nodes) - len(waiting)} of {len(nodes)} drained)"
    )
    return Decision(
        replicas,
        Condition("ScalingDown", True, "Draining", msg),
        Event("Normal", "Draining", msg),
    )


def _state(reports: Mapping[str, DrainReport], node: str) -> DrainState:
    report = reports.get(node)
    return report.state if report else DrainState.DRAINING


def _drained_from_top(nodes: Sequence[str], reports: Mapping[str, DrainReport]) -> int:
    count = 0
    for node in nodes:  # highest ordinal first: a StatefulSet cannot skip one
        if _state(reports, node) is not DrainState.DRAINED:
            break
        count += 1
    return count


def worth_announcing(decision: Decision, previous: Sequence[Mapping[str, object]]) -> bool:
    """An event only when the ScalingDown condition says something new (the timer re-runs the
    plan every few seconds; the same Warning each time would bury the others)."""
    if decision.event is None:
        return False
    old = next((c for c in previous if c.get("type") == "ScalingDown"), None)
    return not (
        old
        and old.get("reason") == decision.condition.reason
        and old.get("message") == decision.condition.message
    )
