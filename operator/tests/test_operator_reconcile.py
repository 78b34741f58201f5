"""Whole reconciliation passes against an in-memory API server: children created once and left
alone after, drift healed, storage drained before it shrinks, volumes grown, events emitted."""

from __future__ import annotations

import pytest
from fake_kube import FakeKube
from operator_support import FakeDrainer, cluster_body

from stratos.operator.builders import DefaultImages
from stratos.operator.builders.spec import SpecError
from stratos.operator.reconcile import reconcile
from stratos.operator.scaledown import FORCE_ANNOTATION


class Run:
    def __init__(self, kube=None, drainer=None):
        self.kube = kube or FakeKube()
        self.drainer = drainer or FakeDrainer()
        self.events: list[tuple[str, str, str]] = []
        self.admins: list = []  # the admin key each pass gave its drainer
        self.status: dict = {}
        self.tick = 0

    async def __call__(self, spec=None, **meta):
        body = cluster_body(spec, **meta)
        body["status"] = self.status
        self.tick += 1
        outcome = await reconcile(
            body,
            kube=self.kube,
            drainer_for=self._drainer_for,
            emit=lambda *e: self.events.append(e),
            defaults=DefaultImages(),
            now=f"t{self.tick}",
        )
        self.status = outcome.status
        return outcome

    def _drainer_for(self, _certs, admin):
        self.admins.append(admin)
        return self.drainer

    def reasons(self):
        return [e[1] for e in self.events]


async def test_the_first_pass_creates_every_child_and_the_cluster_becomes_ready():
    run = Run()
    outcome = await run({"validators": {"replicas": 4}})
    assert "StatefulSet/demo-storage" in outcome.created
    assert "Secret/demo-validator-keys" in outcome.created
    assert "Secret/demo-incentive-keys" in outcome.created
    assert "StatefulSet/demo-incentive" in outcome.created
    assert outcome.status["phase"] == "Ready"
    # 3 nats, 2 index, 3 storage, 4 validators, 3 incentive
    assert outcome.status["ready"] == "15/15"
    assert run.reasons() == ["Created", "PhaseReady"]
    for obj in run.kube.objects.values():
        if obj["kind"] != "PersistentVolumeClaim":  # those belong to their StatefulSet
            assert obj["metadata"]["ownerReferences"][0]["uid"] == "1234-uid"


async def test_a_pass_with_nothing_to_do_changes_nothing():
    run = Run()
    await run({"validators": {"replicas": 4}})
    version, events = run.kube.version, len(run.events)
    outcome = await run({"validators": {"replicas": 4}})
    assert (outcome.created, outcome.updated, outcome.removed) == ([], [], [])
    assert run.kube.version == version  # the validator keys and genesis were reused, not remade
    assert len(run.events) == events


async def test_a_deleted_child_comes_back_and_an_edited_one_is_reverted():
    run = Run()
    await run()
    del run.kube.objects["/apis/apps/v1/namespaces/mesh/deployments/demo-index"]
    run.kube.objects["/api/v1/namespaces/mesh/services/demo-storage"]["spec"]["ports"] = []
    outcome = await run()
    assert outcome.created == ["Deployment/demo-index"]
    assert outcome.updated == ["Service/demo-storage"]
    assert ("Warning", "DriftHealed", "recreated Deployment/demo-index") in run.events
    assert run.kube.find("Service", "demo-storage")["spec"]["ports"][0]["port"] == 7000


async def test_scale_up_is_immediate():
    run = Run()
    await run({"storage": {"replicas": 3}})
    outcome = await run({"storage": {"replicas": 5}})
    assert run.kube.find("StatefulSet", "demo-storage")["spec"]["replicas"] == 5
    assert outcome.status["storageReplicas"] == 5


async def test_scale_down_drains_the_top_nodes_before_lowering_replicas():
    run = Run(drainer=FakeDrainer(steps=2))
    await run({"storage": {"replicas": 5}})
    first = await run({"storage": {"replicas": 3}})
    assert run.kube.find("StatefulSet", "demo-storage")["spec"]["replicas"] == 5
    assert set(run.drainer.calls) == {"demo-storage-4", "demo-storage-3"}
    scaling = next(c for c in first.status["conditions"] if c["type"] == "ScalingDown")
    assert (scaling["status"], scaling["reason"]) == ("True", "Draining")
    second = await run({"storage": {"replicas": 3}})
    assert run.kube.find("StatefulSet", "demo-storage")["spec"]["replicas"] == 3
    assert second.status["storageReplicas"] == 3
    assert "ScaledDown" in run.reasons()
    third = await run({"storage": {"replicas": 3}})
    assert (
        next(c for c in third.status["conditions"] if c["type"] == "ScalingDown")["reason"]
        == "Idle"
    )


async def test_ordinals_scaled_back_up_take_chunks_again():
    run = Run(drainer=FakeDrainer(steps=1))
    await run({"storage": {"replicas": 5}})
    await run({"storage": {"replicas": 3}})  # demo-storage-3 and -4 drained, then removed
    assert run.kube.find("StatefulSet", "demo-storage")["spec"]["replicas"] == 3
    assert run.drainer.undrained == []
    await run({"storage": {"replicas": 5}})
    assert run.drainer.undrained == ["demo-storage-3", "demo-storage-4"]
    assert run.kube.find("StatefulSet", "demo-storage")["spec"]["replicas"] == 5


async def test_a_refused_drain_holds_storage_but_the_rest_is_still_reconciled():
    run = Run(drainer=FakeDrainer(refuse={"demo-storage-3": "would break redundancy"}))
    await run({"storage": {"replicas": 4}, "index": {"replicas": 2}})
    outcome = await run({"storage": {"replicas": 3}, "index": {"replicas": 4}})
    assert run.kube.find("StatefulSet", "demo-storage")["spec"]["replicas"] == 4
    assert run.kube.find("Deployment", "demo-index")["spec"]["replicas"] == 4
    scaling = next(c for c in outcome.status["conditions"] if c["type"] == "ScalingDown")
    assert (scaling["status"], scaling["reason"]) == ("False", "DrainRefused")
    assert next(e for e in run.events if e[1] == "DrainRefused")[0] == "Warning"
    await run({"storage": {"replicas": 3}, "index": {"replicas": 4}})
    assert run.reasons().count("DrainRefused") == 1  # not repeated on every pass
    forced = await run(
        {"storage": {"replicas": 3}, "index": {"replicas": 4}},
        annotations={FORCE_ANNOTATION: "true"},
    )
    assert run.kube.find("StatefulSet", "demo-storage")["spec"]["replicas"] == 3
    assert "ScaleDownForced" in run.reasons()
    assert forced.status["storageReplicas"] == 3


async def test_a_grown_size_expands_claims_without_touching_the_claim_template():
    run = Run()
    await run({"storage": {"size": "10Gi"}})
    await run({"storage": {"size": "20Gi"}})  # FakeKube refuses template changes like the API
    sizes = {
        o["metadata"]["name"]: o["spec"]["resources"]["requests"]["storage"]
        for o in run.kube.objects.values()
        if o["kind"] == "PersistentVolumeClaim" and "storage" in o["metadata"]["name"]
    }
    assert sizes == {f"data-demo-storage-{i}": "20Gi" for i in range(3)}
    assert run.reasons().count("VolumeExpanding") == 3


async def test_going_to_one_nats_server_removes_its_budget():
    run = Run()
    await run({"nats": {"replicas": 3}})
    assert run.kube.find("PodDisruptionBudget", "demo-nats")
    outcome = await run({"nats": {"replicas": 1}})
    assert outcome.removed == ["PodDisruptionBudget/demo-nats"]
    assert run.kube.find("PodDisruptionBudget", "demo-nats") is None


async def test_pods_not_ready_yet_leave_the_cluster_creating():
    run = Run(kube=FakeKube(ready=False))
    outcome = await run()
    assert outcome.status["phase"] == "Creating"
    assert run.reasons() == ["Created", "PhaseCreating"]


async def test_a_bad_spec_applies_nothing():
    run = Run()
    with pytest.raises(SpecError):
        await run({"storage": {"replicas": 2}, "replication": 3})
    assert run.kube.objects == {}
