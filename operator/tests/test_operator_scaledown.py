"""Storage scale-down: highest ordinals first, replicas lowered only past drained nodes, a
refusal stops it with a condition, the annotation overrides."""

from __future__ import annotations

from operator_support import cluster_body

from stratos.operator.builders.spec import parse_cluster
from stratos.operator.drain import DrainReport, DrainState
from stratos.operator.scaledown import FORCE_ANNOTATION, decide, leaving, worth_announcing

DRAINED, DRAINING = DrainReport(DrainState.DRAINED), DrainReport(DrainState.DRAINING)


def _cluster(replicas=3, **annotations):
    return parse_cluster(cluster_body({"storage": {"replicas": replicas}}, annotations=annotations))


def test_the_highest_ordinals_leave_first():
    assert leaving(_cluster(3), 6) == ["demo-storage-5", "demo-storage-4", "demo-storage-3"]
    assert leaving(_cluster(3), 3) == [] and leaving(_cluster(5), 3) == []
    assert leaving(_cluster(3), None) == []


def test_scale_up_and_creation_are_immediate():
    assert decide(_cluster(5), 3, {}).replicas == 5
    assert decide(_cluster(5), None, {}).replicas == 5
    assert decide(_cluster(5), 3, {}).condition.reason == "Idle"


def test_replicas_drop_only_past_nodes_drained_from_the_top():
    c = _cluster(3)
    d = decide(
        c, 6, {"demo-storage-5": DRAINED, "demo-storage-4": DRAINING, "demo-storage-3": DRAINED}
    )
    assert d.replicas == 5  # ordinal 3 is drained but 4 is not: a StatefulSet cannot skip
    assert d.condition.status is True and d.condition.reason == "Draining"
    assert "demo-storage-4" in d.condition.message


def test_all_drained_completes_the_scale_down():
    c = _cluster(3)
    d = decide(c, 5, {"demo-storage-4": DRAINED, "demo-storage-3": DRAINED})
    assert d.replicas == 3
    assert (d.condition.status, d.condition.reason) == (False, "Complete")
    assert d.event.type == "Normal"


def test_a_refused_drain_stops_with_a_condition_and_a_warning():
    c = _cluster(3)
    d = decide(
        c,
        5,
        {
            "demo-storage-4": DRAINED,
            "demo-storage-3": DrainReport(DrainState.REFUSED, "too few nodes"),
        },
    )
    assert d.replicas == 4  # the drained top node may still go
    assert (d.condition.status, d.condition.reason) == (False, "DrainRefused")
    assert "too few nodes" in d.condition.message and FORCE_ANNOTATION in d.condition.message
    assert d.event.type == "Warning"


def test_the_annotation_removes_nodes_without_draining():
    d = decide(_cluster(3, **{FORCE_ANNOTATION: "true"}), 5, {})
    assert d.replicas == 3
    assert d.condition.reason == "Forced" and d.event.type == "Warning"


def test_never_below_the_replication_target():
    c = parse_cluster(cluster_body({"storage": {"replicas": 3}, "replication": 3}))
    object.__setattr__(c.spec.storage, "replicas", 2)  # a CR that slipped past the CEL rule
    d = decide(c, 4, {})
    assert d.replicas == 4 and d.condition.reason == "WouldBreakRedundancy"


def test_the_same_news_is_announced_once():
    c = _cluster(3)
    d = decide(c, 4, {"demo-storage-3": DrainReport(DrainState.REFUSED, "no")})
    assert worth_announcing(d, [])
    previous = [
        {"type": "ScalingDown", "reason": d.condition.reason, "message": d.condition.message}
    ]
    assert not worth_announcing(d, previous)
