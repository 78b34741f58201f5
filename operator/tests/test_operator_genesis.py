"""The genesis a cluster with validators starts from: the storage nodes it starts with are
resource nodes under the identity keys their pods load, bonded with the chain's minimum deposit
(which backs the ozone pool), the genesis accounts' ozone prepays are bought at the price those
deposits set, and the consensus service's own parser accepts the file. Keys and genesis are
made once: later passes, later storage nodes and an operator stopped halfway change neither."""

from __future__ import annotations

import base64
import json

import pytest
from fake_kube import FakeKube
from operator_support import FakeDrainer, cluster_body

from stratos.common.errors import Unavailable
from stratos.common.identity import address_of
from stratos.common.stos import MAX_NSTOS, format_stos, parse_stos
from stratos.consensus.ledger.genesis import Genesis
from stratos.consensus.ledger.pricing import after_prepay
from stratos.consensus.ledger.state import Params
from stratos.operator.builders import DefaultImages, genesis_amounts
from stratos.operator.builders.spec import SpecError, parse_cluster, parse_spec
from stratos.operator.builders.trust import public_key
from stratos.operator.keys import ensure_material
from stratos.operator.reconcile import reconcile
from stratos.v1 import ledger_pb2

WALLET = "ab" * 20
OTHER = "cd" * 20
CHAIN = {"validators": {"replicas": 4}}

RESOURCE_DEPOSIT = parse_stos(genesis_amounts.RESOURCE_DEPOSIT_STOS)


async def _pass(kube: FakeKube, spec=CHAIN) -> None:
    await reconcile(
        cluster_body(spec),
        kube=kube,
        drainer_for=lambda _certs, _admin: FakeDrainer(),
        emit=lambda *_: None,
        defaults=DefaultImages(),
        now="t",
    )


def _storage_keys(kube: FakeKube) -> dict[str, str]:
    """node -> PEM, as the storage identity Secret holds it (the files each pod loads)."""
    data = kube.find("Secret", "demo-storage-identity")["data"]
    return {
        name.removesuffix(".pem"): base64.b64decode(value).decode()
        for name, value in data.items()
        if name.endswith(".pem")
    }


def _genesis_text(kube: FakeKube) -> str:
    return kube.find("ConfigMap", "demo-genesis")["data"]["genesis.json"]


def _resource_nodes(genesis: Genesis) -> dict[str, int]:
    return {n.address: n.deposit for n in genesis.nodes if n.role == ledger_pb2.NODE_ROLE_RESOURCE}


def test_the_deposits_the_operator_writes_meet_the_chains_minimums():
    """The operator may not import the consensus service; this keeps its copy in step."""
    params = Params()
    assert parse_stos(genesis_amounts.RESOURCE_DEPOSIT_STOS) >= params.min_deposit_resource
    assert parse_stos(genesis_amounts.META_DEPOSIT_STOS) == params.min_deposit_meta


async def test_each_initial_storage_pod_is_a_resource_node_under_the_key_its_secret_holds():
    kube = FakeKube()
    await _pass(kube, {**CHAIN, "storage": {"replicas": 5}})
    keys = _storage_keys(kube)
    assert sorted(keys) == [f"demo-storage-{i}" for i in range(5)]
    genesis = Genesis.from_json(_genesis_text(kube))  # the consensus service's own parser
    resource = _resource_nodes(genesis)
    assert resource == {address_of(public_key(pem)): RESOURCE_DEPOSIT for pem in keys.values()}
    assert not set(resource) & dict(genesis.accounts).keys()  # they earn; they pay no fees
    state = genesis.initial_state()
    assert state.pool.deposits == 5 * RESOURCE_DEPOSIT  # S backs the ozone pool
    assert {a for a, r in state.nodes.items() if r.role == ledger_pb2.NODE_ROLE_RESOURCE} == set(
        resource
    )


async def test_the_secret_and_the_genesis_agree_across_passes_and_later_nodes_stay_unregistered():
    kube = FakeKube()
    await _pass(kube)
    keys, genesis = _storage_keys(kube), _genesis_text(kube)
    await _pass(kube)
    assert _storage_keys(kube) == keys and _genesis_text(kube) == genesis
    await _pass(kube, {**CHAIN, "storage": {"replicas": 4}})  # a node added after the genesis
    grown = _storage_keys(kube)
    assert {n: grown[n] for n in keys} == keys and "demo-storage-3" in grown
    assert _genesis_text(kube) == genesis  # never rewritten
    registered = set(_resource_nodes(Genesis.from_json(genesis)))
    assert registered == {address_of(public_key(keys[f"demo-storage-{i}"])) for i in range(3)}
    assert address_of(public_key(grown["demo-storage-3"])) not in registered


class _StopsBeforeTheGenesis(FakeKube):
    """An operator stopped after it applied the storage identity Secret and before the genesis
    ConfigMap: that one write fails once."""

    failed = False

    async def apply(self, manifest):
        if manifest["metadata"]["name"] == "demo-genesis" and not self.failed:
            self.failed = True
            raise Unavailable("the operator stopped here")
        return await super().apply(manifest)


async def test_an_operator_stopped_before_the_genesis_registers_the_keys_it_already_stored():
    kube = _StopsBeforeTheGenesis()
    with pytest.raises(Unavailable):
        await _pass(kube)
    assert kube.find("ConfigMap", "demo-genesis") is None
    stored = _storage_keys(kube)  # the Secret went first
    await _pass(kube)
    assert _storage_keys(kube) == stored
    registered = set(_resource_nodes(Genesis.from_json(_genesis_text(kube))))
    assert registered == {address_of(public_key(pem)) for pem in stored.values()}


async def test_a_cluster_whose_genesis_exists_keeps_it_and_its_storage_keys():
    """A genesis made before storage nodes were registered stays as it is: their keys are the
    ones the Secret holds, and nothing is made for the genesis again."""
    kube = FakeKube()
    await _pass(kube)
    cm = kube.find("ConfigMap", "demo-genesis")
    old = json.loads(cm["data"]["genesis.json"])
    old["nodes"] = [n for n in old["nodes"] if n["role"] != "resource"]
    cm["data"]["genesis.json"] = json.dumps(old)
    keys = _storage_keys(kube)
    await _pass(kube)
    assert kube.find("ConfigMap", "demo-genesis")["data"]["genesis.json"] == json.dumps(old)
    assert _storage_keys(kube) == keys
    cluster = parse_cluster(cluster_body(CHAIN))
    again = ensure_material(
        cluster,
        kube.find("Secret", "demo-validator-keys"),
        cm,
        incentive_secret=kube.find("Secret", "demo-incentive-keys"),
        storage_secret=kube.find("Secret", "demo-storage-identity"),
    )
    assert again.genesis_json == json.dumps(old) and again.storage_keys_pem == {}


def test_the_storage_identity_secret_is_applied_before_the_genesis_that_names_its_keys():
    from operator_support import certs_of, new_trust

    from stratos.operator.builders import build_all

    cluster = parse_cluster(cluster_body(CHAIN))
    material = ensure_material(cluster, None, None, now_ms=1)
    manifests = build_all(
        cluster,
        DefaultImages(),
        trust_material=new_trust(cluster, material),
        certs=certs_of(cluster),
        material=material,
    )
    order = [(m["kind"], m["metadata"]["name"]) for m in manifests]
    assert order.index(("Secret", "demo-storage-identity")) < order.index(
        ("ConfigMap", "demo-genesis")
    )


async def test_a_genesis_accounts_ozone_prepay_is_bought_and_leaves_the_pool_for_others():
    kube = FakeKube()
    accounts = [
        {"address": WALLET, "balance": "1000", "ozone": "100"},
        {"address": OTHER, "balance": "5"},  # no prepay: no ozone
    ]
    await _pass(kube, {"validators": {"replicas": 4, "genesisAccounts": accounts}})
    doc = json.loads(_genesis_text(kube))
    assert doc["ozone"] == [{"address": WALLET, "prepaid": "100"}]
    genesis = Genesis.from_json(_genesis_text(kube))
    state = genesis.initial_state()
    assert state.accounts[WALLET].ozone > 0
    assert state.accounts[WALLET].balance == parse_stos("1000")  # the prepay is on top of it
    assert state.accounts[OTHER].ozone == 0
    # the storage nodes' deposits set the price: a later buyer of as much gets nearly as much
    _, later = after_prepay(state.pool, parse_stos("100"))
    assert later > 0.9 * state.accounts[WALLET].ozone


async def test_without_a_prepay_the_genesis_has_no_ozone_list():
    kube = FakeKube()
    await _pass(
        kube,
        {
            "validators": {
                "replicas": 4,
                "genesisAccounts": [{"address": WALLET, "balance": "1000"}],
            }
        },
    )
    assert "ozone" not in json.loads(_genesis_text(kube))


def test_the_prepay_is_kept_in_the_typed_spec():
    accounts = [{"address": WALLET, "balance": "0", "ozone": "12.5"}]
    (account,) = parse_spec(
        {"validators": {"replicas": 1, "genesisAccounts": accounts}}
    ).validators.genesis_accounts
    assert (account.address, account.balance, account.ozone) == (WALLET, "0", "12.5")


@pytest.mark.parametrize(
    ("account", "says"),
    [
        ({"address": WALLET, "balance": "1", "ozone": "lots"}, "genesisAccounts[0].ozone"),
        ({"address": WALLET, "balance": "1", "ozone": "-1"}, "genesisAccounts[0].ozone"),
        ({"address": WALLET, "balance": "1", "ozone": 100}, "genesisAccounts[0].ozone"),
        ({"address": WALLET, "balance": "1", "ozone": "0.0000000001"}, "genesisAccounts[0].ozone"),
        (
            {"address": WALLET, "balance": "1", "ozone": "99999999999999999999"},
            "genesisAccounts[0].ozone is more than the ledger can hold",
        ),
    ],
)
def test_a_bad_ozone_prepay_is_refused_with_one_sentence_naming_it(account, says):
    with pytest.raises(SpecError) as err:
        parse_spec({"validators": {"replicas": 4, "genesisAccounts": [account]}})
    assert says in str(err.value) and "\n" not in str(err.value)


def test_prepays_and_balances_past_what_the_ledger_holds_are_refused_before_any_validator():
    """`Genesis.from_json` refuses a total supply past a uint64 of nstos; so does the spec,
    counting the deposits and funds the operator adds itself."""
    nodes = genesis_amounts.operator_supply_nstos(3, 3)
    room = MAX_NSTOS - nodes
    fits = [{"address": WALLET, "balance": format_stos(room - 10**9), "ozone": "1"}]
    cluster = parse_cluster(cluster_body({"validators": {"replicas": 4, "genesisAccounts": fits}}))
    Genesis.from_json(ensure_material(cluster, None, None, now_ms=1).genesis_json)  # exactly full
    over = [{"address": WALLET, "balance": format_stos(room - 10**9), "ozone": "1.000000001"}]
    with pytest.raises(SpecError, match=r"more than the ledger can"):
        parse_spec({"validators": {"replicas": 4, "genesisAccounts": over}})


def test_an_account_listed_twice_is_refused_like_the_genesis_would():
    twice = [{"address": WALLET, "balance": "1"}, {"address": WALLET, "balance": "2"}]
    with pytest.raises(SpecError, match=r"genesisAccounts\[1\]\.address .* listed twice"):
        parse_spec({"validators": {"replicas": 4, "genesisAccounts": twice}})


def test_the_crd_takes_an_optional_ozone_shaped_like_a_balance():
    from operator_support import crd_schema

    validators = crd_schema()["properties"]["spec"]["properties"]["validators"]["properties"]
    item = validators["genesisAccounts"]["items"]
    assert item["properties"]["ozone"]["pattern"] == item["properties"]["balance"]["pattern"]
    assert "ozone" not in item["required"]
