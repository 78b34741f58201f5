"""The children of a StratosCluster as an operator user would check them: names, replica
counts, owner references, labels and selectors that match, probes, PDB math, the genesis."""

from __future__ import annotations

import base64
import os
import re
import subprocess

import pytest
from operator_support import certs_of, cluster_body, in_test_dir, new_trust, tls_mounted

from stratos.common.limits import MAX_MANIFEST_BYTES, NATS_MAX_PAYLOAD_BYTES
from stratos.common.procs import nats_server_binary
from stratos.consensus.ledger.genesis import Genesis
from stratos.operator.builders import DefaultImages, build_all, pdb, prunable
from stratos.operator.builders.immutable import claims_to_expand, keep_claim_templates
from stratos.operator.builders.spec import parse_cluster
from stratos.operator.keys import ensure_material

DEFAULTS = DefaultImages(
    nats="nats:test",
    index="idx:test",
    storage="sto:test",
    consensus="con:test",
    incentive="inc:test",
)


def _cluster(spec=None, **meta):
    return parse_cluster(cluster_body(spec, **meta))


def _children(spec=None, **kw):
    cluster = _cluster(spec)
    material = (
        ensure_material(cluster, None, None, now_ms=1) if cluster.spec.validators.replicas else None
    )
    return cluster, {
        (m["kind"], m["metadata"]["name"]): m
        for m in build_all(
            cluster,
            DEFAULTS,
            trust_material=new_trust(cluster, material, **kw),
            certs=certs_of(cluster),
            material=material,
        )
    }


def test_a_default_cluster_has_nats_index_storage_budgets_and_policies_but_no_validators():
    _, kids = _children()
    assert set(kids) == {
        ("ConfigMap", "demo-nats-config"),
        ("Service", "demo-nats-headless"),
        ("Service", "demo-nats"),
        ("StatefulSet", "demo-nats"),
        ("Service", "demo-index"),
        ("Deployment", "demo-index"),
        ("Service", "demo-storage"),
        ("StatefulSet", "demo-storage"),
        ("PodDisruptionBudget", "demo-storage"),
        ("PodDisruptionBudget", "demo-index"),
        ("PodDisruptionBudget", "demo-nats"),
        ("NetworkPolicy", "demo-default-deny"),
        ("NetworkPolicy", "demo-egress-dns-otlp"),
        ("NetworkPolicy", "demo-nats"),
        ("NetworkPolicy", "demo-index"),
        ("NetworkPolicy", "demo-storage"),
        ("Secret", "demo-mesh-admin"),
        ("Secret", "demo-index-identity"),
        ("Secret", "demo-storage-identity"),
        ("ConfigMap", "demo-admission"),
        ("Secret", "demo-mesh-ca"),
        *(
            ("Secret", f"demo-{c}-tls")
            for c in ("index", "storage", "validator", "incentive", "operator", "nats")
        ),
        ("Secret", "demo-client-tls"),
    }


def test_every_child_is_owned_by_the_cluster_and_lives_in_its_namespace():
    _, kids = _children({"validators": {"replicas": 4}})
    for obj in kids.values():
        (ref,) = obj["metadata"]["ownerReferences"]
        assert ref == {
            "apiVersion": "stratos.io/v1alpha1",
            "kind": "StratosCluster",
            "name": "demo",
            "uid": "1234-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert obj["metadata"]["namespace"] == "mesh"
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "stratos-operator"


def test_replica_counts_follow_the_spec():
    _, kids = _children(
        {
            "nats": {"replicas": 5},
            "index": {"replicas": 3},
            "storage": {"replicas": 7},
            "validators": {"replicas": 4},
        }
    )
    assert kids[("StatefulSet", "demo-nats")]["spec"]["replicas"] == 5
    assert kids[("Deployment", "demo-index")]["spec"]["replicas"] == 3
    assert kids[("StatefulSet", "demo-storage")]["spec"]["replicas"] == 7
    assert kids[("StatefulSet", "demo-validator")]["spec"]["replicas"] == 4


def test_the_scale_down_plan_can_hold_storage_above_the_spec():
    _, kids = _children({"storage": {"replicas": 3}}, storage_replicas=5)
    assert kids[("StatefulSet", "demo-storage")]["spec"]["replicas"] == 5


def test_services_select_exactly_the_pods_of_their_workload():
    _, kids = _children({"validators": {"replicas": 4}})
    workloads = [o for o in kids.values() if o["kind"] in ("StatefulSet", "Deployment")]
    for svc in (o for o in kids.values() if o["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        matching = [
            w
            for w in workloads
            if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matching) == 1, svc["metadata"]["name"]
        ports = {
            p["name"]
            for c in matching[0]["spec"]["template"]["spec"]["containers"]
            for p in c["ports"]
        }
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= ports
    for w in workloads:
        # the selector must match the pod template, or the API server refuses the workload
        assert w["spec"]["selector"]["matchLabels"].items() <= (
            w["spec"]["template"]["metadata"]["labels"].items()
        )
        assert "app.kubernetes.io/version" not in w["spec"]["selector"]["matchLabels"]
    for budget in (o for o in kids.values() if o["kind"] == "PodDisruptionBudget"):
        sel = budget["spec"]["selector"]["matchLabels"]
        assert (
            sum(
                sel.items() <= w["spec"]["template"]["metadata"]["labels"].items()
                for w in workloads
            )
            == 1
        )


def test_stateful_sets_are_governed_by_their_headless_services():
    _, kids = _children({"validators": {"replicas": 4}})
    for (kind, _name), sts in kids.items():
        if kind == "StatefulSet":
            svc = kids[("Service", sts["spec"]["serviceName"])]
            assert svc["spec"]["clusterIP"] == "None"


def _env(container):
    return {e["name"]: e.get("value") for e in container["env"]}


def test_storage_nodes_are_named_after_their_pod_and_sized_from_the_spec():
    _, kids = _children(
        {"storage": {"size": "20Gi", "capacity": "15Gi", "storageClassName": "fast"}}
    )
    sts = kids[("StatefulSet", "demo-storage")]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    env = _env(container)
    assert env["STRATOS_NODE_ID"] == "$(POD_NAME)"
    assert env["STRATOS_ADVERTISE_ADDRESS"] == "$(POD_NAME).demo-storage.$(POD_NAMESPACE).svc:7000"
    assert env["STRATOS_CAPACITY_BYTES"] == str(15 * 2**30)
    assert env["STRATOS_NATS_URL"] == "tls://demo-nats.mesh.svc:4222"
    # POD_NAME must come before the variables that expand it
    names = [e["name"] for e in container["env"]]
    assert names.index("POD_NAME") < names.index("STRATOS_NODE_ID")
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert claim["spec"]["storageClassName"] == "fast"
    assert container["image"] == "sto:test"


def test_an_empty_storage_class_means_the_cluster_default():
    _, kids = _children()
    (claim,) = kids[("StatefulSet", "demo-storage")]["spec"]["volumeClaimTemplates"]
    assert "storageClassName" not in claim["spec"]


def test_zones_are_assigned_round_robin_by_ordinal(tmp_path):
    import subprocess

    _, kids = _children({"storage": {"zones": ["a", "b", "c"]}})
    (container,) = kids[("StatefulSet", "demo-storage")]["spec"]["template"]["spec"]["containers"]
    assert _env(container)["STRATOS_ZONES"] == "a b c"
    script = container["command"][2].replace("exec stratos-storage", 'echo "$STRATOS_ZONE"')
    zones = [
        subprocess.run(
            ["/bin/sh", "-c", script],
            env={"POD_NAME": f"demo-storage-{i}", "STRATOS_ZONES": "a b c"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for i in range(5)
    ]
    assert zones == ["a", "b", "c", "a", "b"]


def test_pods_are_hardened_and_probed_over_grpc_health():
    """The kubelet's gRPC probes speak no TLS: they ask the plaintext health-only port."""
    _, kids = _children({"validators": {"replicas": 4}})
    for name in ("demo-storage", "demo-validator"):
        pod = kids[("StatefulSet", name)]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (c,) = pod["containers"]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["health"] == ports["grpc"] + 1
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["STRATOS_HEALTH_ADDRESS"] == f"0.0.0.0:{ports['health']}"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["grpc"]["port"] == ports["health"]
    index = kids[("Deployment", "demo-index")]["spec"]["template"]["spec"]["containers"][0]
    assert index["readinessProbe"]["grpc"]["port"] == 7101


def test_nats_runs_jetstream_clustered_with_a_route_per_server():
    _, kids = _children({"nats": {"replicas": 3, "storageSize": "2Gi"}})
    conf = kids[("ConfigMap", "demo-nats-config")]["data"]["nats.conf"]
    assert "jetstream {" in conf and "store_dir: /data" in conf
    for i in range(3):
        assert f"nats://demo-nats-{i}.demo-nats-headless.mesh.svc:6222" in conf
    assert kids[("Service", "demo-nats-headless")]["spec"]["publishNotReadyAddresses"] is True


@pytest.mark.parametrize("servers", [1, 3, 5])
def test_every_nats_server_fsyncs_each_write_before_acknowledging_it(servers):
    _, kids = _children({"nats": {"replicas": servers}})
    conf = kids[("ConfigMap", "demo-nats-config")]["data"]["nats.conf"]
    block = re.search(r"^jetstream \{\n(.*?)^\}", conf, re.S | re.M)
    assert block and re.search(r"^\s*sync_interval: always$", block.group(1), re.M), conf


@pytest.mark.parametrize("servers", [1, 3])
def test_the_nats_server_accepts_the_rendered_config(servers, tmp_path):
    """`nats-server -t` parses the whole file (a misspelt value such as `sync_interval: alwys`
    is refused), the way the pods will read it."""
    _, kids = _children({"nats": {"replicas": servers}})
    conf = tmp_path / "nats.conf"
    text = kids[("ConfigMap", "demo-nats-config")]["data"]["nats.conf"]
    conf.write_text(in_test_dir(text, tls_mounted(kids, "nats", tmp_path)))
    args = kids[("StatefulSet", "demo-nats")]["spec"]["template"]["spec"]["containers"][0]["args"]
    # the arguments as the pod passes them: Kubernetes expands $(POD_NAME), the config is here
    args = [str(conf) if a == "/etc/nats/nats.conf" else a for a in args]
    args = [a.replace("$(POD_NAME)", "demo-nats-0") for a in args]
    checked = subprocess.run(
        [nats_server_binary(), *args, "-t"],
        env={**os.environ, "POD_NAME": "demo-nats-0"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(("servers", "copies"), [(1, 1), (3, 3), (5, 3), (9, 3)])
def test_index_and_storage_keep_one_copy_of_each_stream_per_nats_server_up_to_three(
    servers, copies
):
    _, kids = _children({"nats": {"replicas": servers}})
    for kind, name in (("Deployment", "demo-index"), ("StatefulSet", "demo-storage")):
        (container,) = kids[(kind, name)]["spec"]["template"]["spec"]["containers"]
        assert _env(container)["STRATOS_NATS_REPLICAS"] == str(copies), name


def test_nats_accepts_messages_as_large_as_the_manifests_the_index_stores():
    """The index keeps a manifest as one KV message of up to MAX_MANIFEST_BYTES; nats-server's
    own default max_payload (1 MiB) would refuse a large file's manifest after its upload."""
    _, kids = _children({"nats": {"replicas": 3}})
    conf = kids[("ConfigMap", "demo-nats-config")]["data"]["nats.conf"]
    assert f"max_payload: {NATS_MAX_PAYLOAD_BYTES}\n" in conf
    assert NATS_MAX_PAYLOAD_BYTES >= 2 * MAX_MANIFEST_BYTES


def test_a_single_nats_server_has_no_cluster_block_and_no_budget():
    _, kids = _children({"nats": {"replicas": 1}})
    assert "cluster {" not in kids[("ConfigMap", "demo-nats-config")]["data"]["nats.conf"]
    assert ("PodDisruptionBudget", "demo-nats") not in kids


@pytest.mark.parametrize(("n", "f"), [(1, 0), (4, 1), (5, 1), (6, 1), (7, 2), (10, 3), (100, 33)])
def test_validator_budget_is_f(n, f):
    assert pdb.bft_faults(n) == f
    _, kids = _children({"validators": {"replicas": n}, "storage": {"replicas": 3}})
    budget = kids.get(("PodDisruptionBudget", "demo-validator"))
    if f == 0:
        assert budget is None  # a budget of 0 would block every node drain forever
    else:
        assert budget["spec"]["maxUnavailable"] == f


@pytest.mark.parametrize(("n", "allowed"), [(3, 1), (5, 2), (7, 3)])
def test_nats_budget_keeps_a_majority(n, allowed):
    _, kids = _children({"nats": {"replicas": n}})
    assert kids[("PodDisruptionBudget", "demo-nats")]["spec"]["maxUnavailable"] == allowed
    assert n - allowed > n // 2


@pytest.mark.parametrize(("r", "allowed"), [(1, 1), (2, 1), (3, 2), (5, 4)])
def test_storage_budget_keeps_one_copy_of_every_chunk(r, allowed):
    _, kids = _children({"replication": r, "storage": {"replicas": 6}})
    assert kids[("PodDisruptionBudget", "demo-storage")]["spec"]["maxUnavailable"] == allowed


def test_validators_get_keys_a_genesis_the_consensus_service_accepts_and_each_other_as_peers():
    _, kids = _children(
        {
            "validators": {
                "replicas": 4,
                "chainId": "mesh-1",
                "genesisAccounts": [{"address": "ab" * 20, "balance": "1000.5"}],
            }
        }
    )
    genesis = Genesis.from_json(kids[("ConfigMap", "demo-genesis")]["data"]["genesis.json"])
    assert genesis.chain_id == "mesh-1"
    assert len(genesis.validators) == 4
    assert genesis.accounts[0] == ("ab" * 20, 1000_500_000_000)  # then the incentive replicas
    secret = kids[("Secret", "demo-validator-keys")]
    assert sorted(secret["data"]) == [f"demo-validator-{i}.pem" for i in range(4)]
    assert secret["immutable"] is True
    pem = base64.b64decode(secret["data"]["demo-validator-0.pem"]).decode()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    (c,) = kids[("StatefulSet", "demo-validator")]["spec"]["template"]["spec"]["containers"]
    env = _env(c)
    assert env["STRATOS_VALIDATOR_KEY_FILE"] == "/etc/stratos/keys/$(POD_NAME).pem"
    peers = env["STRATOS_PEERS"].split(",")
    assert peers == [f"demo-validator-{i}.demo-validator.mesh.svc:7200" for i in range(4)]
    # the service drops its own address from the peers: it must advertise the same form
    assert (
        env["STRATOS_ADVERTISE_ADDRESS"] == "$(POD_NAME).demo-validator.$(POD_NAMESPACE).svc:7200"
    )


def test_existing_validator_material_is_reused_verbatim():
    cluster, kids = _children({"validators": {"replicas": 4}})
    secret, genesis = kids[("Secret", "demo-validator-keys")], kids[("ConfigMap", "demo-genesis")]
    meta = kids[("Secret", "demo-incentive-keys")]
    storage = kids[("Secret", "demo-storage-identity")]
    again = ensure_material(cluster, secret, genesis, incentive_secret=meta, storage_secret=storage)
    assert again.genesis_json == genesis["data"]["genesis.json"]
    # genesis lost before any start: the storage nodes it registered keep their keys
    rebuilt = ensure_material(
        cluster, secret, None, now_ms=1, incentive_secret=meta, storage_secret=storage
    )
    assert rebuilt.genesis_json == genesis["data"]["genesis.json"]


def test_a_grown_size_keeps_the_existing_claim_template_and_grows_the_claims():
    _, old = _children({"storage": {"size": "10Gi"}})
    _, new = _children({"storage": {"size": "20Gi"}})
    before = old[("StatefulSet", "demo-storage")]
    kept = keep_claim_templates(new[("StatefulSet", "demo-storage")], before)
    assert kept["spec"]["volumeClaimTemplates"] == before["spec"]["volumeClaimTemplates"]
    assert (
        keep_claim_templates(new[("StatefulSet", "demo-storage")], None)
        == (new[("StatefulSet", "demo-storage")])
    )
    claims = [
        {"metadata": {"name": "a"}, "spec": {"resources": {"requests": {"storage": "10Gi"}}}},
        {"metadata": {"name": "b"}, "spec": {"resources": {"requests": {"storage": "20Gi"}}}},
        {"metadata": {"name": "c"}, "spec": {"resources": {"requests": {"storage": "30Gi"}}}},
    ]
    assert claims_to_expand(claims, "20Gi") == ["a"]


def test_a_budget_the_spec_no_longer_wants_is_pruned():
    cluster, kids = _children({"nats": {"replicas": 1}})
    assert ("policy/v1", "PodDisruptionBudget", "demo-nats") in prunable(
        cluster, list(kids.values())
    )
    cluster, kids = _children({"nats": {"replicas": 3}})
    assert ("policy/v1", "PodDisruptionBudget", "demo-nats") not in prunable(
        cluster, list(kids.values())
    )


def test_building_is_deterministic():
    """The same cluster and the same material (keys are made once, in `identities`) render the
    same children, so a pass with nothing to do changes nothing."""
    cluster = _cluster({"validators": {"replicas": 4}})
    material = ensure_material(cluster, None, None, now_ms=1)
    trust = new_trust(cluster, material)
    kw = {"trust_material": trust, "certs": certs_of(cluster), "material": material}
    assert build_all(cluster, DEFAULTS, **kw) == build_all(cluster, DEFAULTS, **kw)


def test_every_grpc_pod_mounts_its_components_certificate_and_names_it():
    _, kids = _children({"validators": {"replicas": 4}})
    for kind, name, component in [
        ("Deployment", "demo-index", "index"),
        ("StatefulSet", "demo-storage", "storage"),
        ("StatefulSet", "demo-validator", "validator"),
    ]:
        pod = kids[(kind, name)]["spec"]["template"]["spec"]
        (tls_volume,) = [v for v in pod["volumes"] if v["name"] == "tls"]
        assert tls_volume["secret"]["secretName"] == f"demo-{component}-tls"
        (c,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["STRATOS_TLS_CERT_FILE"] == "/etc/stratos/tls/tls.crt"
        secret = kids[("Secret", f"demo-{component}-tls")]
        assert set(secret["data"]) == {"ca.pem", "tls.crt", "tls.key"}
    # the CA's key is in its own Secret, which no pod mounts
    assert "ca.key" in kids[("Secret", "demo-mesh-ca")]["data"]
    mounted = {
        v.get("secret", {}).get("secretName")
        for obj in kids.values()
        for v in obj.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", [])
    }
    assert "demo-mesh-ca" not in mounted


def _cert_names(kids, component):
    from cryptography import x509

    pem = base64.b64decode(kids[("Secret", f"demo-{component}-tls")]["data"]["tls.crt"])
    sans = x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    return set(sans.value.get_values_for_type(x509.DNSName))


def test_every_service_name_a_client_dials_is_in_the_certificate_of_the_pods_behind_it():
    """TLS checks the dialled name: a client Service (`demo-consensus`) whose name the pods'
    certificate lacks would refuse every caller; a headless one is dialled pod by pod."""
    _, kids = _children({"validators": {"replicas": 4}})
    for (kind, name), svc in kids.items():
        if kind != "Service":
            continue
        component = svc["spec"]["selector"]["app.kubernetes.io/component"]
        names = _cert_names(kids, component)
        if svc["spec"].get("clusterIP") == "None":
            assert f"*.{name}.mesh.svc" in names, name
        else:
            assert {name, f"{name}.mesh", f"{name}.mesh.svc"} <= names, name
