"""The chart, images and dev tooling, checked without helm: values match their schema, RBAC
grants what the operator calls and nothing broader, the operator Deployment is single and
Recreate, and skaffold/kind/example files fit together."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from operator_support import REPO, apply_defaults, crd_schema

from stratos.operator.builders.meta import PORT_INDEX
from stratos.operator.builders.spec import parse_cluster
from stratos.operator.kube import PLURALS

CHART = REPO / "charts" / "stratos"


def _validate(schema: dict[str, Any], value: Any, root: dict[str, Any], path: str = "") -> list:
    """The JSON Schema subset values.schema.json uses (jsonschema is not installed here)."""
    if "$ref" in schema:
        node: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        return _validate(node, value, root, path)
    errors = []
    types = schema.get("type")
    if types:
        types = types if isinstance(types, list) else [types]
        py = {
            "object": dict,
            "array": list,
            "string": str,
            "boolean": bool,
            "integer": int,
            "number": (int, float),
        }
        ok = any(
            isinstance(value, py[t])
            and not (t in ("integer", "number") and isinstance(value, bool))
            for t in types
        )
        if not ok:
            return [f"{path}: {value!r} is not {types}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        errors.append(f"{path}: too short")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and not schema.get("minimum", value) <= value <= schema.get("maximum", value):
        errors.append(f"{path}: {value} out of range")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}.{key}: required")
        for key, sub in value.items():
            if key in props:
                errors += _validate(props[key], sub, root, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}.{key}: not allowed")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += _validate(schema["additionalProperties"], sub, root, f"{path}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += _validate(schema["items"], item, root, f"{path}[{i}]")
    return errors


def _schema() -> dict[str, Any]:
    return json.loads((CHART / "values.schema.json").read_text())


def test_the_chart_metadata_is_helm_v2():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "stratos"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])


def test_default_values_match_the_schema():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert _validate(_schema(), values, _schema()) == []


def test_the_schema_refuses_unknown_keys_and_bad_values():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = _schema()
    typo = {**values, "operater": {}}
    assert any("operater" in e for e in _validate(schema, typo, schema))
    bad = {**values, "operator": {**values["operator"], "healIntervalSeconds": 0}}
    assert _validate(schema, bad, schema)
    bad = {**values, "jaeger": {**values["jaeger"], "enabled": "yes"}}
    assert _validate(schema, bad, schema)


def test_every_component_has_the_same_image_shape():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for component in ("operator", "nats", "index", "storage", "consensus", "incentive", "jaeger"):
        assert {"repository", "tag", "pullPolicy"} == set(values[component]["image"])


def _rbac_rules() -> list[dict[str, Any]]:
    text = (CHART / "templates" / "rbac.yaml").read_text()
    first = text.split("---")[0]
    body = first[first.index("rules:") :]
    return yaml.safe_load(body)["rules"]


def test_rbac_grants_every_kind_the_operator_touches_and_nothing_wider():
    rules = _rbac_rules()
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    for (api_version, _kind), plural in PLURALS.items():
        group = api_version.split("/")[0] if "/" in api_version else ""
        assert (group, plural) in granted, plural
    apply_kinds = [p for p in PLURALS.values() if p != "persistentvolumeclaims"]
    for plural in apply_kinds:
        group = next(g for (g, r) in granted if r == plural)
        assert {"get", "create", "patch"} <= granted[(group, plural)]
    assert granted[("", "events")] == {"create"}
    assert granted[("stratos.io", "stratosclusters/status")] == {"get", "patch"}
    for verbs in granted.values():
        assert "*" not in verbs and "escalate" not in verbs and "bind" not in verbs
    assert "delete" not in granted[("apps", "statefulsets")]  # children go by owner reference
    assert not any("*" in rule["resources"] or "*" in rule["apiGroups"] for rule in rules)


def test_network_policies_are_granted_without_delete():
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in _rbac_rules()
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    # none is ever pruned: the only optional one (validators) lives as long as the cluster
    assert granted[("networking.k8s.io", "networkpolicies")] == {"get", "create", "patch"}


def test_the_operators_own_network_policy_opens_only_metrics_dns_the_api_server_and_drains():
    text = (CHART / "templates" / "networkpolicy.yaml").read_text()
    assert "{{- if .Values.networkPolicy.enabled }}" in text
    assert 'policyTypes: ["Ingress", "Egress"]' in text
    assert "port: {{ .Values.operator.metricsPort }}" in text
    assert "range .Values.networkPolicy.apiServerPorts" in text
    assert f"port: {PORT_INDEX}}}" in text  # the drains go to each cluster's index
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["networkPolicy"] == {
        "enabled": True,
        "apiServerPorts": [443, 6443],
        "apiServerCIDRs": [],
    }


def test_the_operator_runs_once_with_recreate_and_is_probed():
    text = (CHART / "templates" / "deployment.yaml").read_text()
    assert re.search(r"^  replicas: 1$", text, re.M)
    assert re.search(r"strategy:\n    type: Recreate", text)
    assert "path: /healthz" in text and "runAsNonRoot: true" in text


def test_jaeger_is_optional():
    text = (CHART / "templates" / "jaeger.yaml").read_text()
    assert text.startswith("{{- if .Values.jaeger.enabled }}")
    assert text.rstrip().endswith("{{- end }}")


def test_the_chart_installs_the_crd():
    assert (CHART / "crds" / "stratosclusters.yaml").is_file()
    assert not list((CHART / "templates").glob("*crd*"))  # helm installs crds/ once, unrendered


def test_skaffold_builds_one_image_per_service_from_existing_dockerfiles():
    cfg = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    assert cfg["apiVersion"].startswith("skaffold/v4")
    artifacts = cfg["build"]["artifacts"]
    names = [a["image"] for a in artifacts]
    assert names == [
        "stratos-storage",
        "stratos-index",
        "stratos-consensus",
        "stratos-operator",
        "stratos-incentive",
    ]
    for a in artifacts:
        assert a["context"] == "."
        assert (REPO / a["docker"]["dockerfile"]).is_file()
    (release,) = cfg["deploy"]["helm"]["releases"]
    assert release["chartPath"] == "charts/stratos"
    for name in names:
        token = name.replace("-", "_")
        assert f"{{{{.IMAGE_REPO_{token}}}}}" in release["setValueTemplates"].values()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for key in release["setValueTemplates"]:
        node = values
        for part in key.split("."):
            node = node[part]  # every override names a real value
    dev = next(p for p in cfg["profiles"] if p["name"] == "dev")
    syncs = [p for p in dev["patches"] if p["path"].endswith("/sync")]
    assert syncs and all(s["value"]["manual"] for s in syncs)
    for patch in dev["patches"]:  # the operator's inner loop patches the operator's artifact
        if patch["path"].startswith("/build/artifacts/"):
            index = int(patch["path"].split("/")[3])
            assert artifacts[index]["image"] == "stratos-operator", patch["path"]
    for patch in dev["patches"]:
        if patch["path"].endswith("setValues"):
            for key in patch["value"]:
                node = values
                for part in key.split("."):
                    node = node[part]


def test_the_kind_cluster_is_the_context_skaffold_deploys_to():
    kind = yaml.safe_load((REPO / "deploy" / "kind.yaml").read_text())
    cfg = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    assert cfg["deploy"]["kubeContext"] == f"kind-{kind['name']}"
    zones = {n.get("labels", {}).get("topology.kubernetes.io/zone") for n in kind["nodes"]}
    assert len(zones - {None}) == 3


def test_the_example_cluster_is_valid():
    doc = yaml.safe_load((REPO / "examples" / "stratoscluster.yaml").read_text())
    assert doc["apiVersion"] == "stratos.io/v1alpha1" and doc["kind"] == "StratosCluster"
    doc["metadata"]["namespace"] = "default"
    cluster = parse_cluster(apply_defaults(crd_schema(), doc))
    assert cluster.spec.validators.replicas == 4
    assert cluster.spec.storage.replicas >= cluster.spec.replication


def test_the_operator_image_is_non_root_and_built_from_the_lock():
    text = (REPO / "operator" / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "uv sync --frozen --no-dev --package stratos-operator" in text
    assert re.search(r"^USER 10001$", text, re.M)
