"""The operator against a real control plane, run as a local process (kwok pods run no
container), with a real local index behind the drain API: the example cluster comes up with
owned children, status, conditions and printer columns; it scales through the scale
subresource, drains before shrinking (or stops and warns when the index refuses, unless
forced); drift is healed; and deleting it removes everything it made.

The tests in this module are one story, in order, on one StratosCluster `demo`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cluster.controlplane import REPO, ControlPlane
from cluster.harness import (
    LocalIndex,
    Operator,
    condition,
    events,
    get,
    restricted_namespace,
    wait_for,
)

NS = "mesh"
NAME = "demo"
HEAL_S = 2  # the drift timer's interval here (30 s by default)
INSTANCE = f"app.kubernetes.io/instance={NAME}"
STORY: dict[str, str] = {}  # what one step of the story leaves for a later one
WALLET_ACCOUNT = {"address": "ab" * 20, "balance": "1000", "ozone": "100"}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    """A local mesh plus storage processes named demo-storage-0..4 (the pod names)."""
    mesh = LocalIndex.start(tmp_path_factory.mktemp("mesh"), STRATOS_REPAIR_INTERVAL_S="0.5")
    try:
        for i in range(5):
            mesh.add_node(f"{NAME}-storage-{i}", f"zone-{'abc'[i % 3]}")
        want = {f"{NAME}-storage-{i}" for i in range(5)} | {"storage-1"}
        wait_for(lambda: mesh.live_nodes() >= want, timeout_s=60, what="6 LIVE storage nodes")
        yield mesh
    finally:
        mesh.stop()


@pytest.fixture(scope="module")
def operator(
    chart: ControlPlane, index: LocalIndex, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    restricted_namespace(chart, NS)  # every pod the operator makes must pass admission
    index.share_ca(chart, NS, NAME)
    # the cluster's admin key, brought in before the cluster: the local index behind the drain
    # API trusts the local mesh's admin key, so the operator must sign its drains with it
    chart.kubectl(
        "create",
        "secret",
        "generic",
        f"{NAME}-mesh-admin",
        "-n",
        NS,
        f"--from-file=admin.pem={index.admin_key_file}",
    )
    op = Operator(
        chart,
        tmp_path_factory.mktemp("operator") / "operator.log",
        env={
            "STRATOS_INDEX_ADDRESS": index.address,
            "STRATOS_HEAL_INTERVAL_S": str(HEAL_S),
        },
    ).start()
    try:
        yield op
    finally:
        # delete while the operator still runs: it holds a finalizer on each cluster
        chart.kubectl("delete", "stratosclusters", "--all", "-n", NS, "--timeout=60s", check=False)
        op.stop()


def sc(cp: ControlPlane) -> dict:
    obj = get(cp, "stratoscluster", NAME, NS)
    assert obj is not None
    return obj


def wait_phase(cp: ControlPlane, phase: str, timeout_s: float = 90) -> dict:
    return wait_for(
        lambda: (o := sc(cp)).get("status", {}).get("phase") == phase and o,
        timeout_s=timeout_s,
        what=f"{NAME} to be {phase}",
    )


def wait_scaling_down(cp: ControlPlane, reason: str, timeout_s: float) -> dict:
    """Until the ScalingDown condition has `reason`; the failure names the last one seen."""
    seen: list[dict] = [{}]

    def check() -> dict | None:
        seen[0] = condition(sc(cp), "ScalingDown")
        return seen[0] if seen[0].get("reason") == reason else None

    try:
        return wait_for(check, timeout_s=timeout_s, what=f"ScalingDown reason {reason}")
    except AssertionError as err:
        raise AssertionError(f"{err}; last ScalingDown: {seen[0]}") from None


def storage_replicas(cp: ControlPlane) -> int:
    return get(cp, "statefulset", f"{NAME}-storage", NS)["spec"]["replicas"]


def reasons(cp: ControlPlane) -> list[tuple[str, str]]:
    return [(e["type"], e["reason"]) for e in events(cp, NS, NAME)]


def wait_event(cp: ControlPlane, type_: str, reason: str, timeout_s: float = 60) -> None:
    """kopf posts events from a background queue: they may trail the change they describe."""
    wait_for(
        lambda: (type_, reason) in reasons(cp),
        timeout_s=timeout_s,
        what=f"a {type_} {reason} event about {NAME}",
    )


def test_example_reaches_ready_with_owned_children_status_and_printer_columns(
    chart: ControlPlane, operator: Operator
):
    cp = chart
    # the example, with a user's wallet funded and given ozone in the genesis
    example = yaml.safe_load((REPO / "examples" / "stratoscluster.yaml").read_text())
    example["spec"]["validators"]["genesisAccounts"] = [WALLET_ACCOUNT]
    cp.kubectl("apply", "-n", NS, "-f", "-", stdin=json.dumps(example))
    obj = wait_phase(cp, "Ready", timeout_s=120)  # kwok marks every pod Ready

    status = obj["status"]
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    # 3 nats + 2 index + 3 storage + 4 validators + 3 incentive replicas
    assert status["ready"] == "15/15"
    assert status["components"]["storage"] == {"replicas": 3, "ready": 3}
    assert status["components"]["incentive"] == {"replicas": 3, "ready": 3}
    conds = {c["type"]: c for c in status["conditions"]}
    assert set(conds) == {"Ready", "Progressing", "Degraded", "ScalingDown", "IncentiveAsSpec"}
    assert conds["IncentiveAsSpec"]["status"] == "True"
    assert conds["Ready"]["status"] == "True" and conds["Degraded"]["status"] == "False"
    assert all(c["observedGeneration"] == obj["metadata"]["generation"] for c in conds.values())
    # kopf's bookkeeping stays out of status
    assert not [k for k in status if k.startswith("kopf")]

    uid = obj["metadata"]["uid"]
    kinds = (
        "statefulsets,deployments,services,configmaps,secrets,poddisruptionbudgets,networkpolicies"
    )
    children = cp.kubectl_json("get", kinds, "-n", NS, "-l", INSTANCE)["items"]
    names = {f"{c['kind']}/{c['metadata']['name']}" for c in children}
    for expected in (
        f"StatefulSet/{NAME}-nats",
        f"StatefulSet/{NAME}-storage",
        f"StatefulSet/{NAME}-validator",
        f"StatefulSet/{NAME}-incentive",
        f"Deployment/{NAME}-index",
        f"NetworkPolicy/{NAME}-default-deny",
        f"NetworkPolicy/{NAME}-validator",
        f"NetworkPolicy/{NAME}-incentive",
    ):
        assert expected in names, names
    # the namespace enforces the restricted profile, and every pod was admitted
    pods = cp.kubectl_json("get", "pods", "-n", NS, "-l", INSTANCE)["items"]
    assert len(pods) == 15
    for child in children:
        refs = child["metadata"].get("ownerReferences") or []
        assert [(r["uid"], r.get("controller")) for r in refs] == [(uid, True)], child["kind"]
    # claims exist and are bound to the cluster's volumes
    claims = cp.kubectl_json("get", "pvc", "-n", NS)["items"]
    assert len(claims) == 3 + 3 + 4 and all(c["status"]["phase"] == "Bound" for c in claims)

    table = cp.kubectl("get", "stratosclusters", "-n", NS).stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "VALIDATORS", "STORAGE", "READY", "AGE"]
    assert table[1].split()[:5] == [NAME, "Ready", "4", "3", "15/15"]
    wait_event(cp, "Normal", "Created")
    wait_event(cp, "Normal", "PhaseReady")


def _admission(cp: ControlPlane):
    """The admission list as the pods read it, opened under the admin key in the Secret."""
    import base64

    from stratos.common.admission import open_list
    from stratos.operator.builders.trust import public_key

    admin = get(cp, "secret", f"{NAME}-mesh-admin", NS)
    pem = base64.b64decode(admin["data"]["admin.pem"]).decode()
    raw = base64.b64decode(
        get(cp, "configmap", f"{NAME}-admission", NS)["binaryData"]["admission.bin"]
    )
    return open_list(raw, public_key(pem), NAME), pem


def _identity_keys(cp: ControlPlane, component: str) -> dict[str, bytes]:
    import base64

    from stratos.operator.builders.trust import public_key

    data = get(cp, "secret", f"{NAME}-{component}-identity", NS)["data"]
    return {
        k.removesuffix(".pem"): public_key(base64.b64decode(v).decode())
        for k, v in data.items()
        if k.endswith(".pem")
    }


def test_the_incentive_replicas_are_meta_nodes_of_the_genesis_with_keys_and_a_budget(
    chart: ControlPlane, operator: Operator
):
    """Three replicas by default: a StatefulSet whose pods pick their own key from the keys
    Secret (made once, immutable), each key's address a bonded, funded meta node of the genesis
    the validators start from, admitted as an incentive node, and a budget that keeps two of
    the three (the settlement quorum)."""
    import base64

    from stratos.common.identity import address_of
    from stratos.consensus.ledger.genesis import Genesis
    from stratos.operator.builders.trust import public_key
    from stratos.v1 import auth_pb2, ledger_pb2

    cp = chart
    sts = get(cp, "statefulset", f"{NAME}-incentive", NS)
    assert sts["spec"]["replicas"] == 3
    pods = cp.kubectl_json(
        "get", "pods", "-n", NS, "-l", f"{INSTANCE},app.kubernetes.io/component=incentive"
    )["items"]
    assert sorted(p["metadata"]["name"] for p in pods) == [
        f"{NAME}-incentive-{i}" for i in range(3)
    ]
    assert all(p["status"]["phase"] == "Running" for p in pods)

    keys = get(cp, "secret", f"{NAME}-incentive-keys", NS)
    assert keys["immutable"] is True
    public = {
        k.removesuffix(".pem"): public_key(base64.b64decode(v).decode())
        for k, v in keys["data"].items()
    }
    assert sorted(public) == [f"{NAME}-incentive-{i}" for i in range(3)]

    text = get(cp, "configmap", f"{NAME}-genesis", NS)["data"]["genesis.json"]
    genesis = Genesis.from_json(text)  # the consensus service's own parser
    meta = {n.address for n in genesis.nodes if n.role == ledger_pb2.NODE_ROLE_META}
    assert meta == {address_of(k) for k in public.values()}
    funded = dict(genesis.accounts)
    assert all(funded.get(a, 0) > 0 for a in meta)

    admission, _ = _admission(cp)
    assert {m.node_id: m.public_key for m in admission.members(auth_pb2.MESH_ROLE_INCENTIVE)} == (
        public
    )
    budget = get(cp, "poddisruptionbudget", f"{NAME}-incentive", NS)
    assert budget["spec"]["minAvailable"] == 2
    wait_for(  # the disruption controller counts the pods: one of three may go
        lambda: (
            get(cp, "poddisruptionbudget", f"{NAME}-incentive", NS)
            .get("status", {})
            .get("disruptionsAllowed")
            == 1
        ),
        timeout_s=30,
        what="the incentive budget to allow one disruption",
    )
    nats_conf = get(cp, "configmap", f"{NAME}-nats-config", NS)["data"]["nats.conf"]
    assert all(f"# incentive.{NAME}-incentive-{i}\n" in nats_conf for i in range(3))


def test_the_genesis_registers_the_storage_pods_it_started_with_under_their_secrets_keys(
    chart: ControlPlane, operator: Operator
):
    """The stored genesis, read with the consensus service's own parser: each of the three
    storage pods the cluster started with is a resource node at the address of the key its
    identity Secret holds (the key the pod loads), bonded with the chain's minimum deposit and
    given no balance; the wallet's ozone prepay bought ozone at the price those deposits set,
    and the pool has plenty left for `stratos ozone buy`."""
    from stratos.common.identity import address_of
    from stratos.common.stos import parse_stos
    from stratos.consensus.ledger.genesis import Genesis
    from stratos.consensus.ledger.state import Params
    from stratos.operator.builders import genesis_amounts
    from stratos.v1 import ledger_pb2

    cp = chart
    keys = _identity_keys(cp, "storage")
    started = [f"{NAME}-storage-{i}" for i in range(3)]
    assert set(started) <= set(keys)
    text = get(cp, "configmap", f"{NAME}-genesis", NS)["data"]["genesis.json"]
    genesis = Genesis.from_json(text)
    resource = {
        n.address: n.deposit for n in genesis.nodes if n.role == ledger_pb2.NODE_ROLE_RESOURCE
    }
    deposit = parse_stos(genesis_amounts.RESOURCE_DEPOSIT_STOS)
    assert resource == {address_of(keys[n]): deposit for n in started}
    assert not set(resource) & dict(genesis.accounts).keys()

    wallet = WALLET_ACCOUNT["address"]
    assert genesis.ozone == ((wallet, parse_stos(WALLET_ACCOUNT["ozone"])),)
    state = genesis.initial_state()
    assert state.accounts[wallet].ozone > 0
    assert state.pool.deposits == 3 * deposit
    assert state.pool.limit > 0.9 * Params().initial_ozone_limit


def test_every_node_is_admitted_under_its_own_key_and_no_secret_sits_in_env_or_config_maps(
    chart: ControlPlane, operator: Operator, index: LocalIndex
):
    """The trust objects as the API server stores them: the admin key is the one brought in;
    the admission list, signed by it, names exactly the nodes that run with the keys their
    pods mount; NATS admits only users with keys; nothing secret is in a ConfigMap or env."""
    from stratos.common.identity import load_or_create
    from stratos.operator.builders.secrets import leaks
    from stratos.operator.builders.trust import public_key
    from stratos.v1 import auth_pb2

    cp = chart
    admission, pem = _admission(cp)
    assert load_or_create(index.admin_key_file).public_bytes == public_key(pem)
    storage_keys = _identity_keys(cp, "storage")
    (index_key,) = _identity_keys(cp, "index").values()
    storage = {m.node_id: m.public_key for m in admission.members(auth_pb2.MESH_ROLE_STORAGE)}
    assert storage == {f"{NAME}-storage-{i}": storage_keys[f"{NAME}-storage-{i}"] for i in range(3)}
    assert admission.key_of(f"{NAME}-index", auth_pb2.MESH_ROLE_META) == index_key
    assert len(admission.members(auth_pb2.MESH_ROLE_VALIDATOR)) == 4
    assert len(admission.members(auth_pb2.MESH_ROLE_INCENTIVE)) == 3
    STORY["admission_version"] = str(admission.version)
    STORY["storage_keys"] = json.dumps({k: v.hex() for k, v in storage_keys.items()})

    stored = [
        *cp.kubectl_json("get", "configmaps", "-n", NS, "-l", INSTANCE)["items"],
        *cp.kubectl_json("get", "statefulsets,deployments", "-n", NS, "-l", INSTANCE)["items"],
        *cp.kubectl_json("get", "pods", "-n", NS, "-l", INSTANCE)["items"],
    ]
    assert leaks(stored) == []
    nats_conf = get(cp, "configmap", f"{NAME}-nats-config", NS)["data"]["nats.conf"]
    assert "authorization {" in nats_conf and nats_conf.count("nkey:") == 1 + 3 + 4 + 3
    sts = get(cp, "statefulset", f"{NAME}-storage", NS)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in sts["volumes"]}
    assert volumes["identity"]["secret"] == {
        "secretName": f"{NAME}-storage-identity",
        "defaultMode": 0o440,
    }
    assert volumes["admission"]["configMap"]["name"] == f"{NAME}-admission"


def test_the_network_policies_are_stored_as_the_operator_rendered_them(
    chart: ControlPlane, operator: Operator
):
    cp = chart
    policies = {
        p["metadata"]["name"].removeprefix(f"{NAME}-"): p["spec"]
        for p in cp.kubectl_json("get", "networkpolicies", "-n", NS, "-l", INSTANCE)["items"]
    }
    assert set(policies) == {
        "default-deny",
        "egress-dns-otlp",
        "nats",
        "index",
        "storage",
        "validator",
        "incentive",
    }
    deny = policies["default-deny"]
    assert deny["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "stratos", "app.kubernetes.io/instance": NAME}
    }
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert not deny.get("ingress") and not deny.get("egress")

    def component(peer: dict) -> str:
        return peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]

    def ports(rules: list[dict]) -> list[int]:
        return sorted(p["port"] for r in rules for p in r["ports"])

    nats = policies["nats"]
    clients, routes = nats["ingress"]
    assert sorted(component(peer) for peer in clients["from"]) == [
        "incentive",
        "index",
        "storage",
        "validator",
    ]
    assert ports([clients]) == [4222] and ports([routes]) == [6222]
    assert [component(peer) for peer in routes["from"]] == ["nats"]
    for name, port in (("index", 7100), ("storage", 7000), ("validator", 7200)):
        (public,) = policies[name]["ingress"]
        assert "from" not in public and ports([public]) == [port], name  # any client
    assert ports(policies["egress-dns-otlp"]["egress"]) == [53, 53]
    incentive = policies["incentive"]
    assert incentive["policyTypes"] == ["Ingress", "Egress"] and not incentive.get("ingress")
    assert sorted(component(p) for r in incentive["egress"] for p in r["to"]) == [
        "nats",
        "validator",
    ]
    assert ports(incentive["egress"]) == [4222, 7200]


def test_a_deleted_child_comes_back_and_an_edited_one_is_reverted(
    chart: ControlPlane, operator: Operator
):
    cp = chart
    old = get(cp, "service", f"{NAME}-index", NS)
    cp.kubectl("delete", "service", f"{NAME}-index", "-n", NS)
    cp.kubectl("scale", "deployment", f"{NAME}-index", "-n", NS, "--replicas=6")
    wait_for(
        lambda: (
            (s := get(cp, "service", f"{NAME}-index", NS))
            and s["metadata"]["uid"] != old["metadata"]["uid"]
        ),
        timeout_s=HEAL_S * 10,
        what="the deleted index Service to come back",
    )
    wait_for(
        lambda: get(cp, "deployment", f"{NAME}-index", NS)["spec"]["replicas"] == 2,
        timeout_s=HEAL_S * 10,
        what="the index Deployment's edited replicas to be reverted to 2",
    )
    wait_event(cp, "Warning", "DriftHealed")
    wait_phase(cp, "Ready")


def test_scale_up_through_the_scale_subresource(chart: ControlPlane, operator: Operator):
    cp = chart
    cp.kubectl("scale", "stratoscluster", NAME, "-n", NS, "--replicas=5")
    wait_for(lambda: storage_replicas(cp) == 5, timeout_s=30, what="5 storage replicas")
    obj = wait_for(
        lambda: (
            (o := sc(cp))["status"].get("ready") == "17/17"
            and o["status"]["phase"] == "Ready"
            and o
        ),
        timeout_s=90,
        what="17/17 ready",
    )
    assert obj["status"]["storageReplicas"] == 5
    path = f"/apis/stratos.io/v1alpha1/namespaces/{NS}/stratosclusters/{NAME}/scale"
    scale = json.loads(cp.kubectl("get", "--raw", path).stdout)
    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == scale["status"]["replicas"] == 5
    assert INSTANCE in scale["status"]["selector"]
    row = cp.kubectl("get", "stratoscluster", NAME, "-n", NS, "--no-headers").stdout.split()
    assert row[:5] == [NAME, "Ready", "4", "5", "17/17"]
    # the new nodes are admitted under new keys, the old ones keep theirs, a newer list
    admission, _ = _admission(cp)
    assert admission.version > int(STORY["admission_version"])
    keys = _identity_keys(cp, "storage")
    before = json.loads(STORY["storage_keys"])
    assert {k: keys[k].hex() for k in before} == before
    assert {m.node_id: m.public_key for m in admission.members() if "-storage-" in m.node_id} == {
        f"{NAME}-storage-{i}": keys[f"{NAME}-storage-{i}"] for i in range(5)
    }


def test_a_refused_drain_keeps_the_nodes_warns_and_reconciles_the_rest(
    chart: ControlPlane, operator: Operator, index: LocalIndex, tmp_path: Path
):
    cp = chart
    # a file with a copy on each of the 6 live storage nodes: draining any of them would leave
    # it below its redundancy target, so the index refuses
    data = tmp_path / "six.bin"
    data.write_bytes(b"stratos" * 10000)
    STORY["file"] = index.json("put", str(data), "--replicas", "6")["id"]
    # the index judges a drain on its repair loop's last view of the mesh: wait until that view
    # has the file on all six nodes, or a drain asked in between would be accepted
    # (nothing to move yet) and then never finish
    wait_for(
        lambda: (
            (h := index.json("health"))["files"] == 1
            and sum(n["chunks"] > 0 for n in h["nodes"]) == 6
        ),
        timeout_s=30,
        what="the index's health to show the file on all 6 storage nodes",
    )
    cp.kubectl("scale", "stratoscluster", NAME, "-n", NS, "--replicas=4")
    cond = wait_scaling_down(cp, "DrainRefused", timeout_s=60)
    assert cond["status"] == "False"
    # the index's own sentence, passed through
    assert re.search(
        rf"cannot drain {NAME}-storage-4: draining {NAME}-storage-4 would leave 5 live storage "
        r"nodes, and file \S+ needs 6 distinct nodes",
        cond["message"],
    ), cond["message"]
    wait_event(cp, "Warning", "DrainRefused")
    assert storage_replicas(cp) == 5
    # everything else is still reconciled: an index change goes through meanwhile
    cp.kubectl(
        "patch",
        "stratoscluster",
        NAME,
        "-n",
        NS,
        "--type=merge",
        "-p",
        '{"spec": {"index": {"replicas": 3}}}',
    )
    wait_for(
        lambda: get(cp, "deployment", f"{NAME}-index", NS)["spec"]["replicas"] == 3,
        timeout_s=30,
        what="the index Deployment to follow the spec while the drain is refused",
    )
    assert storage_replicas(cp) == 5
    assert condition(sc(cp), "ScalingDown")["reason"] == "DrainRefused"


def test_the_force_annotation_removes_the_nodes_without_draining(
    chart: ControlPlane, operator: Operator
):
    cp = chart
    cp.kubectl("annotate", "stratoscluster", NAME, "-n", NS, "stratos.io/force-scale-down=true")
    cond = wait_scaling_down(cp, "Forced", timeout_s=30)
    assert f"removed {NAME}-storage-4 without draining" in cond["message"]
    assert storage_replicas(cp) == 4
    wait_event(cp, "Warning", "ScaleDownForced")
    cp.kubectl("annotate", "stratoscluster", NAME, "-n", NS, "stratos.io/force-scale-down-")
    wait_phase(cp, "Ready")


def test_scale_down_drains_the_top_node_before_lowering_replicas(
    chart: ControlPlane, operator: Operator, index: LocalIndex
):
    cp = chart
    index.stratos("rm", STORY["file"])  # nothing left that needs every node
    cp.kubectl("scale", "stratoscluster", NAME, "-n", NS, "--replicas=3")
    cond = wait_scaling_down(cp, "Complete", timeout_s=90)
    assert storage_replicas(cp) == 3
    assert index.drain_state(f"{NAME}-storage-3") == "DRAIN_STATE_DRAINED"
    assert f"drained {NAME}-storage-3" in cond["message"]
    wait_event(cp, "Normal", "ScaledDown")
    seen = reasons(cp)
    # drained first (DrainNode answers DRAINING, a later pass DRAINED), removed after
    assert ("Normal", "Draining") in seen, seen
    assert seen.index(("Normal", "Draining")) < seen.index(("Normal", "ScaledDown"))
    wait_phase(cp, "Ready")
    assert sc(cp)["status"]["ready"] == "16/16"


def test_deleting_the_cluster_removes_everything_it_created(
    chart: ControlPlane, operator: Operator
):
    cp = chart
    cp.kubectl("delete", "stratoscluster", NAME, "-n", NS, "--timeout=60s")
    kinds = (
        "statefulsets,deployments,services,configmaps,secrets,poddisruptionbudgets,"
        "networkpolicies,pods,pvc"
    )

    def gone() -> bool:
        left = cp.kubectl_json("get", kinds, "-n", NS, "-l", INSTANCE)["items"]
        claims = cp.kubectl_json("get", "pvc", "-n", NS)["items"]
        return not left and not claims

    wait_for(gone, timeout_s=90, what="every child, pod and claim of the cluster to be deleted")
    assert get(cp, "stratoscluster", NAME, NS) is None
