"""The incentive replicas of a cluster with a chain: one key each, made once with the genesis,
which registers each replica as a bonded, funded meta node; a StatefulSet whose pods each load
their own key and are admitted as incentive nodes; NATS users of role `incentive`; a budget that
keeps the settlement quorum; and a replica count that the spec cannot change once the genesis
exists."""

from __future__ import annotations

import base64
import os

import pytest
from operator_support import certs_of, cluster_body, new_trust, write_secret

from stratos.common.admission_source import AdmissionSource, self_problem
from stratos.common.config import load_settings
from stratos.common.identity import address_of
from stratos.consensus.ledger.genesis import Genesis
from stratos.consensus.ledger.state import Params
from stratos.incentive.config import IncentiveSettings
from stratos.incentive.main import load_identity
from stratos.operator.builders import DefaultImages, build_all, incentive, pdb
from stratos.operator.builders.identity_files import ADMISSION_DIR, IDENTITY_DIR
from stratos.operator.builders.spec import parse_cluster
from stratos.operator.builders.tls import TLS_DIR
from stratos.operator.builders.trust import public_key
from stratos.operator.keys import ensure_material
from stratos.v1 import auth_pb2, ledger_pb2

DEFAULTS = DefaultImages(incentive="inc:test")
PEERS = ",".join(f"demo-validator-{i}.demo-validator.mesh.svc:7200" for i in range(4))


def _cluster(spec):
    return parse_cluster(cluster_body(spec))


def _render(spec, material=None):
    cluster = _cluster(spec)
    if material is None and cluster.spec.validators.replicas:
        material = ensure_material(cluster, None, None, now_ms=1)
    manifests = build_all(
        cluster,
        DEFAULTS,
        trust_material=new_trust(cluster, material),
        certs=certs_of(cluster),
        material=material,
    )
    return cluster, material, manifests, {(m["kind"], m["metadata"]["name"]): m for m in manifests}


def _pems(secret) -> dict[str, str]:
    return {k.removesuffix(".pem"): base64.b64decode(v).decode() for k, v in secret["data"].items()}


def _env(container) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container["env"]}


def test_each_replica_is_a_bonded_funded_meta_node_of_the_genesis_the_chain_accepts():
    _, _, _, kids = _render({"validators": {"replicas": 4}, "incentive": {"replicas": 3}})
    secret = kids[("Secret", "demo-incentive-keys")]
    assert secret["immutable"] is True
    keys = _pems(secret)
    assert sorted(keys) == [f"demo-incentive-{i}" for i in range(3)]
    addresses = {address_of(public_key(pem)) for pem in keys.values()}
    assert len(addresses) == 3  # a key each, not one shared

    genesis = Genesis.from_json(kids[("ConfigMap", "demo-genesis")]["data"]["genesis.json"])
    meta = {n.address: n for n in genesis.nodes if n.role == ledger_pb2.NODE_ROLE_META}
    assert set(meta) == addresses and len(meta) == 3  # the other nodes: the storage nodes
    assert all(n.deposit >= Params().min_deposit_meta for n in meta.values())
    balances = dict(genesis.accounts)
    for address in addresses:  # enough for many report fees
        assert balances[address] >= 1000 * Params().min_fee
    state = genesis.initial_state()
    assert {a for a, r in state.nodes.items() if r.role == ledger_pb2.NODE_ROLE_META} == addresses


def test_the_keys_secret_is_applied_before_the_genesis_that_names_its_keys():
    _, _, manifests, _ = _render({"validators": {"replicas": 4}})
    order = [(m["kind"], m["metadata"]["name"]) for m in manifests]
    genesis = order.index(("ConfigMap", "demo-genesis"))
    assert order.index(("Secret", "demo-incentive-keys")) < genesis
    assert genesis < order.index(("StatefulSet", "demo-incentive"))


def test_the_stateful_set_gives_each_pod_its_own_key_node_id_and_the_ledger():
    _, _, _, kids = _render({"validators": {"replicas": 4}, "incentive": {"replicas": 3}})
    sts = kids[("StatefulSet", "demo-incentive")]
    assert sts["spec"]["replicas"] == 3
    assert kids[("Service", sts["spec"]["serviceName"])]["spec"]["clusterIP"] == "None"
    pod = sts["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    env = _env(c)
    assert c["image"] == "inc:test"
    assert env["STRATOS_NODE_ID"] == "$(POD_NAME)"
    assert env["STRATOS_IDENTITY_FILE"] == "/etc/stratos/keys/$(POD_NAME).pem"
    assert env["STRATOS_CONSENSUS_ADDRESSES"] == PEERS
    assert env["STRATOS_NATS_URL"] == "tls://demo-nats.mesh.svc:4222"
    assert env["STRATOS_NATS_NKEY_FILE"] == f"{IDENTITY_DIR}/$(POD_NAME).nk"
    names = [e["name"] for e in c["env"]]
    assert names.index("POD_NAME") < names.index("STRATOS_NODE_ID")
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["keys"]["secret"] == {"secretName": "demo-incentive-keys", "defaultMode": 0o440}
    assert volumes["identity"]["secret"]["secretName"] == "demo-incentive-identity"
    assert volumes["tls"]["secret"]["secretName"] == "demo-incentive-tls"
    assert "volumeClaimTemplates" not in sts["spec"]  # it keeps nothing of its own
    assert c["readinessProbe"] == {"grpc": {"port": 7301}, "periodSeconds": 5}


def test_the_index_asks_the_same_ledger_only_when_there_is_one():
    _, _, _, kids = _render({"validators": {"replicas": 4}})
    (c,) = kids[("Deployment", "demo-index")]["spec"]["template"]["spec"]["containers"]
    assert _env(c)["STRATOS_CONSENSUS_ADDRESSES"] == PEERS
    _, _, _, plain = _render({})
    (c,) = plain[("Deployment", "demo-index")]["spec"]["template"]["spec"]["containers"]
    assert "STRATOS_CONSENSUS_ADDRESSES" not in _env(c)


def test_a_cluster_without_validators_runs_no_incentive_replica():
    _, material, _, kids = _render({"incentive": {"replicas": 5}})
    assert material is None
    assert not [k for k in kids if "incentive" in k[1] and k != ("Secret", "demo-incentive-tls")]


def test_a_pod_started_from_the_template_loads_its_key_and_is_admitted_as_an_incentive_node(
    tmp_path, monkeypatch
):
    _, material, _, kids = _render({"validators": {"replicas": 4}})
    roots = {
        incentive.KEYS_DIR: write_secret(kids[("Secret", "demo-incentive-keys")], tmp_path / "k"),
        IDENTITY_DIR: write_secret(kids[("Secret", "demo-incentive-identity")], tmp_path / "i"),
        TLS_DIR: write_secret(kids[("Secret", "demo-incentive-tls")], tmp_path / "t"),
        ADMISSION_DIR: tmp_path / "a",
    }
    roots[ADMISSION_DIR].mkdir()
    for name, content in kids[("ConfigMap", "demo-admission")]["binaryData"].items():
        (roots[ADMISSION_DIR] / name).write_bytes(base64.b64decode(content))
    for name in list(os.environ):
        if name.startswith("STRATOS_"):
            monkeypatch.delenv(name)
    (c,) = kids[("StatefulSet", "demo-incentive")]["spec"]["template"]["spec"]["containers"]
    for var in c["env"]:
        if "value" in var:
            value = var["value"].replace("$(POD_NAME)", "demo-incentive-2")
            for mount, root in roots.items():
                value = value.replace(mount, str(root))
            monkeypatch.setenv(var["name"], value)

    settings = load_settings(IncentiveSettings)
    ident = load_identity(settings)
    admission = AdmissionSource.from_env().current()
    role = auth_pb2.MESH_ROLE_INCENTIVE
    assert self_problem(admission, "demo-incentive-2", ident.public_bytes, role) is None
    assert settings.validators == PEERS.split(",")
    genesis = Genesis.from_json(material.genesis_json)
    assert address_of(ident.public_bytes) in {n.address for n in genesis.nodes}
    creds = (roots[IDENTITY_DIR] / "demo-incentive-2.nk").read_text()
    assert creds.startswith("# stratos nats user incentive.demo-incentive-2\n")


@pytest.mark.parametrize(("n", "least"), [(1, None), (2, None), (3, 2), (4, 3), (5, 4), (6, 4)])
def test_the_budget_keeps_the_settlement_quorum_of_two_thirds(n, least):
    assert incentive.quorum(n) == -(-2 * n // 3)
    _, _, _, kids = _render({"validators": {"replicas": 4}, "incentive": {"replicas": n}})
    budget = kids.get(("PodDisruptionBudget", "demo-incentive"))
    if least is None:
        assert budget is None  # evicting none at all would block every node drain forever
    else:
        assert budget["spec"] == {
            "minAvailable": least,
            "selector": {"matchLabels": incentive.selector_labels(_cluster({}), "incentive")},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        }
        assert "maxUnavailable" not in budget["spec"]
    with pytest.raises(ValueError):
        pdb.budget(_cluster({}), "incentive", 1, min_available=1)


def test_the_replicas_are_fixed_by_the_keys_made_with_the_genesis():
    """A spec changed past the CRD's rule changes nothing: the keys and genesis are reused."""
    _, material, _, kids = _render({"validators": {"replicas": 4}})
    held = (kids[("Secret", "demo-validator-keys")], kids[("ConfigMap", "demo-genesis")])
    meta = kids[("Secret", "demo-incentive-keys")]
    grown = _cluster({"validators": {"replicas": 4}, "incentive": {"replicas": 7}})
    again = ensure_material(grown, *held, incentive_secret=meta)
    assert (again.keys_pem, again.genesis_json, again.incentive_keys_pem) == (
        material.keys_pem,
        material.genesis_json,
        material.incentive_keys_pem,
    )
    _, _, _, after = _render({"validators": {"replicas": 4}, "incentive": {"replicas": 7}}, again)
    assert after[("StatefulSet", "demo-incentive")]["spec"]["replicas"] == 3


def test_a_genesis_older_than_the_incentive_service_gets_no_replica_and_no_keys():
    """Its chain registered no meta node and is never rewritten: no key is made for it."""
    cluster = _cluster({"validators": {"replicas": 4}, "incentive": {"replicas": 0}})
    old = ensure_material(cluster, None, None, now_ms=1)
    assert '"meta"' not in old.genesis_json
    secret = {
        "data": {f"{p}.pem": base64.b64encode(k.encode()).decode() for p, k in old.keys_pem.items()}
    }
    genesis = {"data": {"genesis.json": old.genesis_json}}
    now = ensure_material(_cluster({"validators": {"replicas": 4}}), secret, genesis)
    assert now.incentive_keys_pem == {} and now.genesis_json == old.genesis_json
    _, _, _, kids = _render({"validators": {"replicas": 4}}, now)
    assert ("StatefulSet", "demo-incentive") not in kids
    assert ("Secret", "demo-incentive-keys") not in kids
