"""The CRD as a user meets it: names, subresources, printer columns, CEL rules with readable
messages, a structural schema, and defaults that agree with the operator's own."""

from __future__ import annotations

import re
from typing import Any

import pytest
from operator_support import apply_defaults, crd_schema, load_crd

from stratos.operator.builders import spec as specmod
from stratos.operator.builders.spec import SpecError, parse_quantity, parse_spec


def _walk(schema: dict[str, Any], path: str = ""):
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


def _rules(path_suffix: str) -> list[dict[str, Any]]:
    for path, node in _walk(crd_schema()):
        if path.endswith(path_suffix):
            return node.get("x-kubernetes-validations", [])
    raise AssertionError(f"no schema node {path_suffix}")


def test_names_scope_and_version():
    crd = load_crd()
    assert crd["metadata"]["name"] == "stratosclusters.stratos.io"
    assert crd["spec"]["group"] == specmod.GROUP
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["kind"] == specmod.KIND
    assert crd["spec"]["names"]["plural"] == specmod.PLURAL
    assert crd["spec"]["names"]["shortNames"] == ["sc"]
    (version,) = crd["spec"]["versions"]
    assert version["name"] == specmod.VERSION and version["served"] and version["storage"]


def test_status_and_scale_subresources_point_at_storage_nodes():
    version = load_crd()["spec"]["versions"][0]
    assert version["subresources"]["status"] == {}
    scale = version["subresources"]["scale"]
    assert scale["specReplicasPath"] == ".spec.storage.replicas"
    status = crd_schema()["properties"]["status"]["properties"]
    assert scale["statusReplicasPath"].removeprefix(".status.") in status
    assert scale["labelSelectorPath"].removeprefix(".status.") in status


def test_printer_columns_are_name_phase_validators_storage_ready_age():
    columns = load_crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"].upper() for c in columns] == [
        "PHASE",
        "VALIDATORS",
        "STORAGE",
        "READY",
        "AGE",
    ]
    paths = {c["name"]: c["jsonPath"] for c in columns}
    assert paths["Validators"] == ".spec.validators.replicas"
    assert paths["Storage"] == ".spec.storage.replicas"
    assert paths["Age"] == ".metadata.creationTimestamp"


def test_cel_rules_cover_the_documented_refusals_with_messages():
    validators = _rules(".spec.validators.replicas")
    assert any("self == 0 || self == 1 || self >= 4" in r["rule"] for r in validators)
    assert any("oldSelf" in r["rule"] for r in validators)
    size = _rules(".storage.size")
    assert any("oldSelf" in r["rule"] and "compareTo" in r["rule"] for r in size)
    assert any("cannot shrink" in r["message"] for r in size)
    assert any(r["rule"] == "self == oldSelf" for r in _rules(".storage.storageClassName"))
    assert any("replication" in r["rule"] for r in _rules(".spec"))
    for path, node in _walk(crd_schema()):
        for rule in node.get("x-kubernetes-validations", []):
            assert rule.get("message"), f"{path}: a CEL rule without a message"
            assert len(rule["message"]) < 200, f"{path}: message too long for one sentence"


def test_the_schema_is_structural():
    """Every node has a type (or is int-or-string), so the API server accepts and prunes it;
    strings under CEL rules carry maxLength, so rule cost stays bounded."""
    for path, node in _walk(crd_schema()):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
        if node.get("type") == "string" and node.get("x-kubernetes-validations"):
            assert "maxLength" in node, f"{path}: CEL on an unbounded string"


def test_crd_defaults_and_operator_defaults_agree():
    defaulted = apply_defaults(crd_schema(), {"spec": {}})["spec"]
    assert parse_spec(defaulted) == parse_spec({})


@pytest.mark.parametrize("text", ["10Gi", "1.5Ti", "500M", "42", "1e3", "10 Gi", "-1Gi", "Gi", ""])
def test_the_crd_accepts_exactly_the_sizes_the_operator_can_read(text):
    size = next(n for p, n in _walk(crd_schema()) if p.endswith(".storage.size"))
    crd_accepts = re.fullmatch(size["pattern"].strip("^$"), text) is not None
    try:
        parse_quantity(text, "size")
        operator_reads = True
    except SpecError:
        operator_reads = False
    assert crd_accepts == operator_reads
