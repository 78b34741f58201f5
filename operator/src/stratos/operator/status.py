"""What the cluster looks like, from its children: phase, conditions and ready counts.

Pure: the handler reads the workloads, this module decides. Conditions follow the Kubernetes
convention (type, status, reason, message, lastTransitionTime, observedGeneration); a
condition's transition time only moves when its status does.

Phase:
- Creating: not every component has been ready once yet;
- Ready: every component has all its replicas ready on the current template;
- Degraded: a component is below what it needs to work (its quorum, or `replication` storage
  nodes, or no index at all) after the cluster had been up;
- Progressing: anything else (rolling out, scaling, draining).

The incentive replicas that can run are the ones the genesis registered (`builders/incentive.py`),
which the caller passes in; `IncentiveAsSpec` turns False when the spec asks for another number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stratos.operator.builders.incentive import quorum
from stratos.operator.builders.meta import selector_string
from stratos.operator.builders.pdb import bft_faults, raft_faults
from stratos.operator.builders.spec import Cluster

COMPONENTS = ("nats", "index", "storage", "validators", "incentive")


@dataclass(frozen=True)
class Workload:
    """The observed state of one StatefulSet or Deployment."""

    replicas: int  # spec.replicas as the API server has it
    ready: int
    updated: int
    current: bool  # the controller has seen the latest template (observedGeneration)


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str


def workload_from_object(obj: Mapping[str, Any] | None) -> Workload | None:
    if not obj:
        return None
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation", 0)
    return Workload(
        replicas=int(spec.get("replicas", 1)),
        ready=int(status.get("readyReplicas", 0) or 0),
        updated=int(status.get("updatedReplicas", 0) or 0),
        current=int(status.get("observedGeneration", 0) or 0) >= int(generation or 0),
    )


def wanted(cluster: Cluster, incentive: int | None = None) -> dict[str, int]:
    """Replicas each component should run; `incentive`: the ones the genesis registered (None:
    what the spec asks for)."""
    s = cluster.spec
    return {
        "nats": s.nats.replicas,
        "index": s.index.replicas,
        "storage": s.storage.replicas,
        "validators": s.validators.replicas,
        "incentive": cluster.incentive_replicas if incentive is None else incentive,
    }


def minimum(cluster: Cluster, incentive: int | None = None) -> dict[str, int]:
    """Ready replicas each component needs to keep working (incentive: its settlement quorum)."""
    s = cluster.spec
    return {
        "nats": s.nats.replicas - raft_faults(s.nats.replicas),
        "index": 1,
        "storage": s.replication,
        "validators": s.validators.replicas - bft_faults(s.validators.replicas),
        "incentive": quorum(wanted(cluster, incentive)["incentive"]),
    }


def incentive_condition(cluster: Cluster, running: int) -> Condition:
    """Whether the incentive replicas that can run (`running`, fixed by the genesis) are the
    ones the spec asks for."""
    asked = cluster.incentive_replicas
    if asked == running:
        return Condition("IncentiveAsSpec", True, "AsSpec", f"{running} incentive replicas run")
    return Condition(
        "IncentiveAsSpec",
        False,
        "FixedAtGenesis",
        f"the spec asks for {asked} incentive replicas, but the chain's genesis registered "
        f"{running} as meta nodes and is never rewritten, so {running} run",
    )


def _settled(want: int, w: Workload | None) -> bool:
    if want == 0:
        return w is None or w.replicas == 0
    return (
        w is not None and w.current and w.replicas == want and w.ready >= want and w.updated >= want
    )


def summarize(
    cluster: Cluster,
    workloads: Mapping[str, Workload | None],
    *,
    previous_phase: str = "",
    scaling_down: Condition | None = None,
    incentive: int | None = None,
) -> tuple[str, list[Condition], dict[str, dict[str, int]]]:
    """(phase, conditions, per-component counts) of `cluster` given its observed workloads;
    `incentive` is how many incentive replicas can run (None: what the spec asks for)."""
    want, need = wanted(cluster, incentive), minimum(cluster, incentive)
    counts = {
        c: {"replicas": want[c], "ready": (workloads.get(c) or Workload(0, 0, 0, True)).ready}
        for c in COMPONENTS
    }
    unsettled = [c for c in COMPONENTS if not _settled(want[c], workloads.get(c))]
    short = [c for c in COMPONENTS if want[c] and counts[c]["ready"] < need[c]]
    was_up = previous_phase in ("Ready", "Progressing", "Degraded")

    if not unsettled:
        phase = "Ready"
    elif short and was_up:
        phase = "Degraded"
    elif not was_up:
        phase = "Creating"
    else:
        phase = "Progressing"

    def _list(names: Sequence[str]) -> str:
        return ", ".join(f"{c} {counts[c]['ready']}/{want[c]}" for c in names)

    conditions = [
        Condition(
            "Ready",
            phase == "Ready",
            "AllReplicasReady" if phase == "Ready" else "ReplicasNotReady",
            "every component has all its replicas ready"
            if phase == "Ready"
            else f"waiting for {_list(unsettled)}",
        ),
        Condition(
            "Progressing",
            bool(unsettled),
            "RollingOut" if unsettled else "Settled",
            f"rolling out {_list(unsettled)}" if unsettled else "nothing to roll out",
        ),
        Condition(
            "Degraded",
            bool(short) and was_up,
            "BelowQuorum" if short and was_up else "AsDesired",
            "below what it needs to work: "
            + "; ".join(f"{c} has {counts[c]['ready']} ready, needs {need[c]}" for c in short)
            if short and was_up
            else "every component has what it needs to work",
        ),
        scaling_down or Condition("ScalingDown", False, "Idle", "no storage node is leaving"),
        incentive_condition(cluster, want["incentive"]),
    ]
    return phase, conditions, counts


def condition_dicts(
    conditions: Sequence[Condition],
    previous: Sequence[Mapping[str, Any]],
    *,
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """Conditions as status carries them; lastTransitionTime kept while the status holds."""
    before = {c.get("type"): c for c in previous}
    out = []
    for c in conditions:
        value = "True" if c.status else "False"
        old = before.get(c.type)
        since = old["lastTransitionTime"] if old and old.get("status") == value else now
        out.append(
            {
                "type": c.type,
                "status": value,
                "reason": c.reason,
                "message": c.message,
                "lastTransitionTime": since,
                "observedGeneration": generation,
            }
        )
    return out


def status_body(
    cluster: Cluster,
    workloads: Mapping[str, Workload | None],
    *,
    previous: Mapping[str, Any],
    now: str,
    scaling_down: Condition | None = None,
    incentive: int | None = None,
) -> dict[str, Any]:
    """The whole `.status` of a StratosCluster."""
    phase, conditions, counts = summarize(
        cluster,
        workloads,
        previous_phase=str(previous.get("phase", "")),
        scaling_down=scaling_down,
        incentive=incentive,
    )
    storage = workloads.get("storage")
    ready_total = sum(v["ready"] for v in counts.values())
    want_total = sum(v["replicas"] for v in counts.values())
    return {
        "phase": phase,
        "observedGeneration": cluster.generation,
        "ready": f"{ready_total}/{want_total}",
        "components": counts,
        # the scale subresource: replicas the storage StatefulSet runs now, and their selector
        "storageReplicas": storage.replicas if storage else 0,
        "storageSelector": selector_string(cluster, "storage"),
        "conditions": condition_dicts(
            conditions,
            previous.get("conditions") or [],
            generation=cluster.generation,
            now=now,
        ),
    }
