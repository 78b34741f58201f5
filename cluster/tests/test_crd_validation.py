"""Bad specs are refused by the API server itself, with the CRD's CEL messages, and nothing of
a refused change is applied (no operator runs in this module: only the API server judges)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from cluster.controlplane import ControlPlane
from cluster.harness import get

NS = "cel"


def manifest(name: str, **spec) -> str:
    body = {
        "apiVersion": "stratos.io/v1alpha1",
        "kind": "StratosCluster",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"storage": {"replicas": 3, "size": "10Gi", "storageClassName": "standard"}},
    }
    for key, value in spec.items():
        body["spec"][key] = {**body["spec"].get(key, {}), **value}
    return json.dumps(body)


@pytest.fixture(scope="module")
def api(chart: ControlPlane) -> Iterator[ControlPlane]:
    chart.kubectl("create", "namespace", NS)
    yield chart
    chart.kubectl("delete", "namespace", NS, "--wait=false", check=False)


def refused(cp: ControlPlane, doc: str) -> str:
    proc = cp.kubectl("apply", "-f", "-", stdin=doc, check=False)
    assert proc.returncode != 0, f"the API server accepted {doc}"
    return proc.stderr


def test_two_validators_are_refused_with_the_cel_message_and_nothing_is_created(api):
    err = refused(api, manifest("two", validators={"replicas": 2}))
    assert "validators.replicas must be 0, 1 or at least 4" in err
    assert get(api, "stratoscluster", "two", NS) is None


def test_fewer_storage_nodes_than_replication_are_refused(api):
    doc = json.loads(manifest("thin", storage={"replicas": 2}))
    doc["spec"]["replication"] = 3
    err = refused(api, json.dumps(doc))
    assert "storage.replicas must be at least replication" in err
    assert get(api, "stratoscluster", "thin", NS) is None


def test_defaults_are_filled_in_by_the_api_server(api):
    api.kubectl("apply", "-f", "-", stdin=manifest("defaults"))
    spec = get(api, "stratoscluster", "defaults", NS)["spec"]
    assert spec["replication"] == 3 and spec["nats"]["replicas"] == 3
    assert spec["validators"]["replicas"] == 0 and spec["index"]["replicas"] == 2
    assert spec["incentive"]["replicas"] == 3 and spec["images"]["incentive"] == ""
    api.kubectl("delete", "stratoscluster", "defaults", "-n", NS)


def test_changing_the_incentive_replicas_is_refused_like_the_validators(api):
    """Each replica is a meta node of the chain's genesis, which is never rewritten."""
    api.kubectl("apply", "-f", "-", stdin=manifest("meta", validators={"replicas": 4}))
    before = get(api, "stratoscluster", "meta", NS)
    err = refused(api, manifest("meta", validators={"replicas": 4}, incentive={"replicas": 5}))
    assert "incentive.replicas cannot change after creation" in err
    after = get(api, "stratoscluster", "meta", NS)
    assert after["spec"]["incentive"]["replicas"] == 3
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    api.kubectl("delete", "stratoscluster", "meta", "-n", NS)


def test_a_genesis_account_takes_an_ozone_prepay_and_a_malformed_one_is_refused(api):
    wallet = "ab" * 20
    bad = manifest(
        "oz",
        validators={
            "replicas": 4,
            "genesisAccounts": [{"address": wallet, "balance": "1", "ozone": "lots"}],
        },
    )
    assert "ozone" in refused(api, bad)
    assert get(api, "stratoscluster", "oz", NS) is None
    account = {"address": wallet, "balance": "1", "ozone": "100"}
    api.kubectl(
        "apply",
        "-f",
        "-",
        stdin=manifest("oz", validators={"replicas": 4, "genesisAccounts": [account]}),
    )
    assert get(api, "stratoscluster", "oz", NS)["spec"]["validators"]["genesisAccounts"] == [
        account
    ]
    api.kubectl("delete", "stratoscluster", "oz", "-n", NS)


def test_shrinking_storage_is_refused_and_the_old_size_kept(api):
    api.kubectl("apply", "-f", "-", stdin=manifest("grow"))
    before = get(api, "stratoscluster", "grow", NS)
    err = refused(api, manifest("grow", storage={"size": "5Gi"}))
    assert "storage.size cannot shrink from 10Gi to 5Gi" in err
    after = get(api, "stratoscluster", "grow", NS)
    assert after["spec"]["storage"]["size"] == "10Gi"
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    # growing is fine
    api.kubectl("apply", "-f", "-", stdin=manifest("grow", storage={"size": "20Gi"}))
    assert get(api, "stratoscluster", "grow", NS)["spec"]["storage"]["size"] == "20Gi"


def test_changing_the_storage_class_is_refused_even_with_other_valid_changes(api):
    api.kubectl("apply", "-f", "-", stdin=manifest("klass"))
    before = get(api, "stratoscluster", "klass", NS)
    # a valid change (index replicas) riding along with the invalid one is not applied either
    err = refused(
        api, manifest("klass", storage={"storageClassName": "fast"}, index={"replicas": 5})
    )
    assert "storage.storageClassName is immutable" in err
    after = get(api, "stratoscluster", "klass", NS)
    assert after["spec"]["storage"]["storageClassName"] == "standard"
    assert after["spec"]["index"]["replicas"] == 2
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_the_scale_subresource_is_checked_by_the_same_rules(api):
    api.kubectl("apply", "-f", "-", stdin=manifest("scaled"))
    proc = api.kubectl("scale", "stratoscluster", "scaled", "-n", NS, "--replicas=2", check=False)
    assert proc.returncode != 0
    assert "storage.replicas must be at least replication" in proc.stderr
    assert get(api, "stratoscluster", "scaled", NS)["spec"]["storage"]["replicas"] == 3
