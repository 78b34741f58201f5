"""The chart and skaffold.yaml as a real API server and skaffold's own schema judge them:
lint clean, accepted by a server-side dry run, and installed for real."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from cluster.controlplane import REPO, ControlPlane
from cluster.harness import helm, wait_for


def test_helm_lint_strict_is_clean(cp: ControlPlane):
    out = helm(cp, "lint", "--strict", "charts/stratos")
    assert "1 chart(s) linted, 0 chart(s) failed" in out.stdout
    assert "[WARNING]" not in out.stdout and "[ERROR]" not in out.stdout


def test_skaffold_yaml_validates_against_skaffolds_published_schema(cp: ControlPlane):
    doc = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    version = doc["apiVersion"].split("/", 1)[1]
    schema_file = Path(cp.bin_dir).parent / "schemas" / f"{version}.json"
    assert schema_file.is_file(), f"skaffold's schema for {doc['apiVersion']} is not cached"
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(doc, schema)
    # and the schema does catch mistakes (so the pass above means something)
    bad = {**doc, "deploy": {**doc["deploy"], "helm": {"releasez": []}}}
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("skaffold's schema accepted an unknown field")


def test_rendered_chart_is_accepted_by_the_api_server(cp: ControlPlane):
    cp.kubectl("create", "namespace", "stratos-render", check=False)
    namespaced = ["--set", "operator.watchNamespace=stratos-render", "--set", "jaeger.enabled=true"]
    cases = {
        # the defaults: the CRD, a ClusterRole and the operator
        "defaults": (
            ["--include-crds"],
            [
                "customresourcedefinition.apiextensions.k8s.io/stratosclusters.stratos.io",
                "clusterrole.rbac.authorization.k8s.io/stratos-operator",
                "deployment.apps/stratos-operator",
            ],
        ),
        # one namespace watched (a Role there) and the development Jaeger
        "namespaced": (
            namespaced,
            [
                "role.rbac.authorization.k8s.io/stratos-operator",
                "deployment.apps/stratos-operator",
                "networkpolicy.networking.k8s.io/stratos-operator",
            ],
        ),
    }
    for case, (values, expected) in cases.items():
        rendered = helm(
            cp, "template", "stratos", "charts/stratos", "-n", "stratos-render", *values
        ).stdout
        out = cp.kubectl(
            "apply", "--dry-run=server", "-n", "stratos-render", "-f", "-", stdin=rendered
        ).stdout
        for name in expected:
            assert f"{name} created (server dry run)" in out, (case, out)
        if case == "namespaced":
            assert "jaeger" in out, out
    # a dry run creates nothing
    assert "stratos-operator" not in cp.kubectl("get", "deploy", "-n", "stratos-render").stdout


def test_helm_install_dry_run_server_is_accepted(cp: ControlPlane):
    out = helm(
        cp,
        "install",
        "stratos-dry",
        "charts/stratos",
        "-n",
        "stratos-dry",
        "--create-namespace",
        "--dry-run=server",
    )
    assert "STATUS: pending-install" in out.stdout
    # a dry run leaves nothing behind
    assert helm(cp, "status", "stratos-dry", "-n", "stratos-dry", check=False).returncode != 0


def test_helm_install_creates_crd_rbac_and_the_operator_deployment(chart: ControlPlane):
    cp = chart
    crd = cp.kubectl_json("get", "crd", "stratosclusters.stratos.io")
    assert any(
        c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"]
    )
    assert crd["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"] == (
        ".spec.storage.replicas"
    )
    role = cp.kubectl_json("get", "clusterrole", "stratos-operator")
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert {"stratosclusters", "stratosclusters/status", "statefulsets", "events"} <= resources
    assert not any("*" in rule["verbs"] for rule in role["rules"]), "least privilege"
    binding = cp.kubectl_json("get", "clusterrolebinding", "stratos-operator")
    subject = binding["subjects"][0]
    assert subject["namespace"] == "stratos-system"
    dep = cp.kubectl_json("get", "deployment", "stratos-operator", "-n", "stratos-system")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"]["type"] == "Recreate"
    # the operator's service account may do what the operator does, and no more
    sa = f"system:serviceaccount:stratos-system:{subject['name']}"
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == subject["name"]
    can = lambda *a: cp.kubectl("auth", "can-i", *a, "--as", sa, check=False).stdout.strip()  # noqa: E731
    assert can("patch", "statefulsets", "-n", "anywhere") == "yes"
    assert can("patch", "stratosclusters/status", "-n", "anywhere") == "yes"
    assert can("delete", "statefulsets", "-n", "anywhere") == "no"
    assert can("get", "nodes") == "no"
    assert can("patch", "networkpolicies", "-n", "anywhere") == "yes"
    assert can("delete", "networkpolicies", "-n", "anywhere") == "no"


def test_the_operator_pod_is_admitted_into_a_restricted_namespace_behind_its_policy(
    chart: ControlPlane,
):
    cp = chart
    ns = cp.kubectl_json("get", "namespace", "stratos-system")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    selector = "app.kubernetes.io/component=operator,app.kubernetes.io/instance=stratos"
    # the ReplicaSet's pod exists: the API server's PodSecurity admission let it in
    wait_for(
        lambda: cp.kubectl_json("get", "pods", "-n", "stratos-system", "-l", selector)["items"],
        timeout_s=60,
        what="the operator's pod to be created in the restricted namespace",
    )
    policy = cp.kubectl_json("get", "networkpolicy", "stratos-operator", "-n", "stratos-system")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "operator"
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert [p["port"] for r in spec["ingress"] for p in r["ports"]] == [9090]
    egress = sorted(p["port"] for r in spec["egress"] for p in r["ports"])
    assert egress == [53, 53, 443, 6443, 7100]
