"""Phase, conditions and counts from observed workloads."""

from __future__ import annotations

from operator_support import cluster_body

from stratos.operator.builders.spec import parse_cluster
from stratos.operator.status import Condition, Workload, status_body

CLUSTER = parse_cluster(cluster_body({"validators": {"replicas": 4}}))
WANT = {"nats": 3, "index": 2, "storage": 3, "validators": 4, "incentive": 3}


def _all(ready=None, **override):
    ready = ready or {}
    out = {c: Workload(n, ready.get(c, n), ready.get(c, n), True) for c, n in WANT.items()}
    out.update(override)
    return out


def _cond(status, kind):
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_all_ready_is_ready_with_counts_and_the_scale_selector():
    s = status_body(CLUSTER, _all(), previous={}, now="t1")
    assert s["phase"] == "Ready"
    assert s["ready"] == "15/15"
    assert s["components"]["validators"] == {"replicas": 4, "ready": 4}
    assert s["components"]["incentive"] == {"replicas": 3, "ready": 3}
    assert s["storageReplicas"] == 3
    assert "app.kubernetes.io/component=storage" in s["storageSelector"]
    assert s["observedGeneration"] == 1
    assert _cond(s, "Ready")["status"] == "True"
    assert _cond(s, "Progressing")["status"] == "False"
    assert _cond(s, "ScalingDown")["reason"] == "Idle"
    assert _cond(s, "IncentiveAsSpec")["status"] == "True"


def test_a_new_cluster_is_creating_not_degraded():
    s = status_body(CLUSTER, _all({"storage": 0, "validators": 0}), previous={}, now="t1")
    assert s["phase"] == "Creating"
    assert _cond(s, "Degraded")["status"] == "False"
    assert "storage 0/3" in _cond(s, "Ready")["message"]


def test_losing_quorum_after_being_up_is_degraded_and_says_which():
    s = status_body(CLUSTER, _all({"validators": 2}), previous={"phase": "Ready"}, now="t1")
    assert s["phase"] == "Degraded"
    assert "validators has 2 ready, needs 3" in _cond(s, "Degraded")["message"]


def test_losing_one_validator_of_four_is_only_progressing():
    s = status_body(CLUSTER, _all({"validators": 3}), previous={"phase": "Ready"}, now="t1")
    assert s["phase"] == "Progressing"
    assert _cond(s, "Degraded")["status"] == "False"


def test_a_stale_template_is_not_ready():
    stale = Workload(3, 3, 3, current=False)
    s = status_body(CLUSTER, _all(storage=stale), previous={"phase": "Ready"}, now="t1")
    assert s["phase"] == "Progressing"


def test_transition_times_move_only_when_a_condition_flips():
    first = status_body(CLUSTER, _all(), previous={}, now="t1")
    same = status_body(CLUSTER, _all(), previous=first, now="t2")
    assert _cond(same, "Ready")["lastTransitionTime"] == "t1"
    flipped = status_body(CLUSTER, _all({"index": 1}), previous=same, now="t3")
    assert _cond(flipped, "Ready")["lastTransitionTime"] == "t3"
    assert _cond(flipped, "Degraded")["lastTransitionTime"] == "t1"


def test_the_scale_down_condition_is_carried():
    cond = Condition("ScalingDown", True, "Draining", "draining demo-storage-4")
    s = status_body(CLUSTER, _all(), previous={}, now="t", scaling_down=cond)
    assert _cond(s, "ScalingDown") == {
        "type": "ScalingDown",
        "status": "True",
        "reason": "Draining",
        "message": "draining demo-storage-4",
        "lastTransitionTime": "t",
        "observedGeneration": 1,
    }


def test_losing_the_settlement_quorum_of_incentive_replicas_is_degraded():
    s = status_body(CLUSTER, _all({"incentive": 1}), previous={"phase": "Ready"}, now="t1")
    assert s["phase"] == "Degraded"
    assert "incentive has 1 ready, needs 2" in _cond(s, "Degraded")["message"]
    one_down = status_body(CLUSTER, _all({"incentive": 2}), previous={"phase": "Ready"}, now="t")
    assert one_down["phase"] == "Progressing"


def test_incentive_replicas_the_genesis_did_not_register_are_not_waited_for_and_it_says_so():
    """A cluster whose genesis predates the incentive service registered none: none run, the
    cluster is still Ready, and a condition says why the spec's number is not met."""
    workloads = _all()
    workloads["incentive"] = None
    s = status_body(CLUSTER, workloads, previous={}, now="t1", incentive=0)
    assert s["phase"] == "Ready"
    assert s["components"]["incentive"] == {"replicas": 0, "ready": 0}
    cond = _cond(s, "IncentiveAsSpec")
    assert (cond["status"], cond["reason"]) == ("False", "FixedAtGenesis")
    assert "asks for 3" in cond["message"] and "registered 0" in cond["message"]


def test_a_cluster_without_validators_runs_no_incentive_replica_as_its_spec_says():
    cluster = parse_cluster(cluster_body({}))
    s = status_body(cluster, _all(validators=None, incentive=None), previous={}, now="t")
    assert s["components"]["incentive"] == {"replicas": 0, "ready": 0}
    assert _cond(s, "IncentiveAsSpec")["status"] == "True"
