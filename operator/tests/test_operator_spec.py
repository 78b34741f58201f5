"""The typed spec: CRD defaults, and one clear sentence naming the field for a bad value."""

from __future__ import annotations

import pytest

from stratos.operator.builders.spec import SpecError, parse_cluster, parse_quantity, parse_spec


def test_an_empty_spec_gets_the_documented_defaults():
    spec = parse_spec({})
    assert (spec.nats.replicas, spec.index.replicas, spec.storage.replicas) == (3, 2, 3)
    assert spec.validators.replicas == 0
    assert spec.replication == 3
    assert spec.storage.size == "10Gi"
    # capacity defaults to 90% of the volume, leaving the filesystem headroom
    assert spec.storage.capacity_bytes == 10 * 2**30 * 9 // 10


@pytest.mark.parametrize(
    ("text", "value"),
    [("10Gi", 10 * 2**30), ("500M", 500 * 10**6), ("1.5Ki", 1536), ("42", 42)],
)
def test_quantities_are_read_in_bytes(text, value):
    assert parse_quantity(text, "x") == value


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"validators": {"replicas": 2}}, "spec.validators.replicas"),
        ({"validators": {"replicas": 3}}, "spec.validators.replicas"),
        ({"nats": {"replicas": 2}}, "spec.nats.replicas"),
        ({"storage": {"replicas": 2}, "replication": 3}, "spec.storage.replicas"),
        ({"storage": {"size": "ten gigs"}}, "spec.storage.size"),
        ({"storage": {"size": "1Gi", "capacity": "2Gi"}}, "spec.storage.capacity"),
        ({"index": {"replicas": "two"}}, "spec.index.replicas"),
        ({"validators": {"replicas": 1, "chainId": "-bad"}}, "spec.validators.chainId"),
        (
            {"validators": {"replicas": 1, "genesisAccounts": [{"address": "x", "balance": "1"}]}},
            "spec.validators.genesisAccounts[0].address",
        ),
    ],
)
def test_a_bad_spec_names_the_field(spec, field):
    with pytest.raises(SpecError) as err:
        parse_spec(spec)
    assert field in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("n", [0, 1, 4, 7])
def test_validator_counts_that_bft_can_use_are_accepted(n):
    assert parse_spec({"validators": {"replicas": n}}).validators.replicas == n


def test_a_cluster_needs_a_name_and_namespace():
    with pytest.raises(SpecError, match=r"metadata\.name"):
        parse_cluster({"metadata": {"name": "x"}, "spec": {}})


def test_the_chain_id_defaults_to_the_cluster_name():
    cluster = parse_cluster({"metadata": {"name": "demo", "namespace": "ns"}, "spec": {}})
    assert cluster.chain_id == "demo"
