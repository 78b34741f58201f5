"""Every pod the operator makes meets the restricted Pod Security profile, runs as a set
non-root user with a read-only root filesystem, and carries no service-account token; the
check itself refuses a pod that breaks any of it."""

from __future__ import annotations

import copy

import pytest
from operator_support import cluster_body, new_trust
from restricted_profile import violations

from stratos.operator.builders import DefaultImages, build_all
from stratos.operator.builders.spec import parse_cluster
from stratos.operator.keys import ensure_material
from stratos.operator.meshcerts import ensure_certs

SPECS = [
    {},
    {"validators": {"replicas": 4}, "storage": {"zones": ["a", "b", "c"]}},
    {"validators": {"replicas": 1}, "nats": {"replicas": 1}},
]


def _pods(spec):
    cluster = parse_cluster(cluster_body(spec))
    material = (
        ensure_material(cluster, None, None, now_ms=1) if cluster.spec.validators.replicas else None
    )
    return {
        m["metadata"]["name"]: m["spec"]["template"]["spec"]
        for m in build_all(
            cluster,
            DefaultImages(),
            trust_material=new_trust(cluster, material),
            certs=ensure_certs(cluster, None, {}),
            material=material,
        )
        if m["kind"] in ("StatefulSet", "Deployment")
    }


@pytest.mark.parametrize("spec", SPECS)
def test_every_pod_meets_the_restricted_profile(spec):
    pods = _pods(spec)
    assert pods
    if spec.get("validators"):  # the incentive replicas come with a chain
        assert {"demo-validator", "demo-incentive"} <= set(pods)
    for name, pod in pods.items():
        assert violations(pod) == [], name
        assert pod["automountServiceAccountToken"] is False, name


@pytest.mark.parametrize(
    "break_it, said",
    [
        (lambda p: p["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"), "Escal"),
        (lambda p: p["containers"][0]["securityContext"]["capabilities"].update(drop=[]), "ALL"),
        (lambda p: p["securityContext"].update(runAsNonRoot=False), "runAsNonRoot"),
        (lambda p: p["securityContext"].pop("seccompProfile"), "seccomp"),
        (lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "hostPath"),
        (lambda p: p.update(hostNetwork=True), "hostNetwork"),
        (
            lambda p: p["containers"][0]["securityContext"].update(readOnlyRootFilesystem=False),
            "root filesystem",
        ),
    ],
)
def test_the_check_refuses_a_pod_that_breaks_the_profile(break_it, said):
    pod = copy.deepcopy(_pods({})["demo-storage"])
    break_it(pod)
    found = violations(pod)
    assert len(found) == 1 and said in found[0], found
