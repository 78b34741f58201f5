"""The API server's own PodSecurity admission as the judge of every pod this project makes: in a
namespace that enforces the restricted profile, a pod from each pod template the operator
renders (every component, with validators, zones and tracing) and the chart renders (the
operator, in production and dev mode, and the development Jaeger) is admitted without a
warning, and a pod that breaks the profile is refused — so being admitted means something.

Pods are created as server-side dry runs: admission runs in full, nothing is stored, and no
controller or kwok node has to act, so the whole module takes about a second."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from cluster.controlplane import ControlPlane
from cluster.harness import helm, restricted_namespace
from stratos.operator.builders import DefaultImages, build_all
from stratos.operator.builders.spec import parse_cluster
from stratos.operator.identities import Held, ensure, ensure_admin
from stratos.operator.keys import ensure_material
from stratos.operator.meshcerts import ensure_certs

NS = "stratos-restricted"
SPEC = {
    "validators": {"replicas": 4},
    "storage": {"zones": ["zone-a", "zone-b", "zone-c"]},
    "tracing": {"otlpEndpoint": "http://jaeger:4317"},
}


@pytest.fixture(scope="module")
def restricted(cp: ControlPlane) -> str:
    return restricted_namespace(cp, NS)


def pod_of(workload: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The pod a workload's controller would create: its template, plus the claims a
    StatefulSet adds for its volumeClaimTemplates."""
    template = copy.deepcopy(workload["spec"]["template"])
    name = f"{workload['metadata']['name']}-0"
    spec = template["spec"]
    for claim in workload["spec"].get("volumeClaimTemplates") or []:
        volume = claim["metadata"]["name"]
        spec.setdefault("volumes", []).append(
            {"name": volume, "persistentVolumeClaim": {"claimName": f"{volume}-{name}"}}
        )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": template["metadata"]["labels"],
        },
        "spec": spec,
    }


def create_dry_run(cp: ControlPlane, pod: dict[str, Any]):
    return cp.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(pod), check=False)


def operator_workloads() -> list[dict[str, Any]]:
    body = {
        "apiVersion": "stratos.io/v1alpha1",
        "kind": "StratosCluster",
        "metadata": {"name": "pss", "namespace": NS, "uid": "0000"},
        "spec": SPEC,
    }
    cluster = parse_cluster(body)
    material = ensure_material(cluster, None, None, now_ms=1)
    return [
        m
        for m in build_all(
            cluster,
            DefaultImages(),
            trust_material=ensure(
                cluster,
                Held(),
                ensure_admin(Held()),
                storage_replicas=cluster.spec.storage.replicas,
                validator_material=material,
            ),
            certs=ensure_certs(cluster, None, {}),
            material=material,
        )
        if m["kind"] in ("StatefulSet", "Deployment")
    ]


def chart_workloads(cp: ControlPlane, *values: str) -> list[dict[str, Any]]:
    rendered = helm(cp, "template", "stratos", "charts/stratos", "-n", NS, *values).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    # a pod names its service account, which admission looks up: that one is made for real
    for account in (d for d in docs if d["kind"] == "ServiceAccount"):
        cp.kubectl("apply", "-n", NS, "-f", "-", stdin=json.dumps(account))
    return [d for d in docs if d["kind"] in ("StatefulSet", "Deployment")]


def assert_admitted(cp: ControlPlane, workloads: list[dict[str, Any]]) -> None:
    for workload in workloads:
        proc = create_dry_run(cp, pod_of(workload, NS))
        assert proc.returncode == 0, (workload["metadata"]["name"], proc.stderr)
        assert "Warning" not in proc.stderr, (workload["metadata"]["name"], proc.stderr)


def test_every_pod_the_operator_makes_is_admitted_under_restricted(
    cp: ControlPlane, restricted: str
):
    workloads = operator_workloads()
    assert {w["metadata"]["name"] for w in workloads} == {
        "pss-nats",
        "pss-index",
        "pss-storage",
        "pss-validator",
        "pss-incentive",
    }
    assert_admitted(cp, workloads)


def test_the_charts_pods_are_admitted_under_restricted(cp: ControlPlane, restricted: str):
    for values in ([], ["--set", "jaeger.enabled=true", "--set", "operator.devMode=true"]):
        workloads = chart_workloads(cp, *values)
        assert workloads, values
        assert_admitted(cp, workloads)


@pytest.mark.parametrize(
    "break_it, field",
    [
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].update(
                allowPrivilegeEscalation=True
            ),
            "allowPrivilegeEscalation != false",
        ),
        (lambda p: p["spec"]["securityContext"].pop("runAsNonRoot"), "runAsNonRoot != true"),
        (
            lambda p: p["spec"]["containers"][0]["securityContext"].pop("capabilities"),
            'must set securityContext.capabilities.drop=["ALL"]',
        ),
        (lambda p: p["spec"]["securityContext"].pop("seccompProfile"), "seccompProfile"),
    ],
)
def test_a_pod_that_breaks_the_profile_is_refused(
    cp: ControlPlane, restricted: str, break_it, field: str
):
    storage = next(w for w in operator_workloads() if w["metadata"]["name"] == "pss-storage")
    pod = pod_of(storage, NS)
    assert create_dry_run(cp, pod).returncode == 0
    break_it(pod)
    proc = create_dry_run(cp, pod)
    assert proc.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in proc.stderr, proc.stderr
    assert field in proc.stderr, proc.stderr
