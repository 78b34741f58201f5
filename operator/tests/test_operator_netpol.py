"""The NetworkPolicies of a StratosCluster, judged by what they let through: every connection
between the cluster's pods (incentive replicas included), a pod of another cluster beside it, a
client pod elsewhere and an address outside the cluster, on every port the mesh uses, is allowed
exactly when the architecture draws it (docs/architecture.md, "Trust")."""

from __future__ import annotations

import itertools

import pytest
from operator_support import cluster_body, new_trust
from policy_model import Endpoint, allowed

from stratos.operator.builders import DefaultImages, build_all, netpol
from stratos.operator.builders.meta import labels
from stratos.operator.builders.spec import parse_cluster
from stratos.operator.keys import ensure_material
from stratos.operator.kube import PLURALS
from stratos.operator.meshcerts import ensure_certs

NS = "mesh"
PORTS = {
    "nats-client": 4222,
    "nats-route": 6222,
    "nats-monitor": 8222,
    "storage": 7000,
    "index": 7100,
    "consensus": 7200,
    "incentive": 7300,
    "otlp": 4317,
}
COMPONENTS = ("nats", "index", "storage", "validator", "incentive")


def _cluster(spec=None, name="demo"):
    return parse_cluster(cluster_body(spec, name=name))


def _pod(cluster, component: str) -> Endpoint:
    return Endpoint(f"{cluster.name}-{component}", NS, labels(cluster, component))


def _world(cluster):
    """demo's pods, a storage pod of the cluster `other` in the same namespace, a client pod in
    another namespace and an address outside every pod (a user, a DNS server, a collector)."""
    other = _cluster(name="other")
    return {
        **{c: _pod(cluster, c) for c in COMPONENTS},
        "other-storage": _pod(other, "storage"),
        "client-pod": Endpoint("client-pod", "apps", {"app": "client"}),
        "outside": Endpoint("outside"),
    }


def _flows(cluster, policies) -> set[tuple[str, str, str]]:
    """(source, destination, port name) of every TCP connection the policies allow between
    distinct endpoints, leaving out those that no policy of demo can see (both ends not demo's)."""
    world = _world(cluster)
    ours = set(COMPONENTS)
    out = set()
    for (a, src), (b, dst) in itertools.permutations(world.items(), 2):
        if a not in ours and b not in ours:
            continue
        for port_name, port in PORTS.items():
            if allowed(policies, src, dst, port):
                out.add((a, b, port_name))
    # a component's pods also talk among themselves (storage repair, routes, peers)
    for c in ours:
        for port_name, port in PORTS.items():
            if allowed(policies, world[c], world[c], port):
                out.add((c, c, port_name))
    return out


OUTSIDERS = ("other-storage", "client-pod", "outside")


def _expected(*, validators: bool, nats_routes: bool, otlp: bool) -> set[tuple[str, str, str]]:
    public = {("index", "index"), ("storage", "storage")}
    if validators:
        public.add(("validator", "consensus"))
    want = {(client, dst, port) for client in OUTSIDERS for dst, port in public}
    want |= {
        ("index", "nats", "nats-client"),
        ("storage", "nats", "nats-client"),
        ("index", "storage", "storage"),
        ("storage", "storage", "storage"),
    }
    if validators:
        want |= {
            ("validator", "nats", "nats-client"),
            ("validator", "validator", "consensus"),
            ("index", "validator", "consensus"),  # ozone and suspended nodes
            ("incentive", "nats", "nats-client"),  # the traffic stream, the reports bucket
            ("incentive", "validator", "consensus"),  # epoch reports
        }
    if nats_routes:
        want.add(("nats", "nats", "nats-route"))
    if otlp:
        present = [c for c in COMPONENTS if validators or c not in ("validator", "incentive")]
        # the collector may be anywhere: any address that does not refuse it itself
        want |= {(c, x, "otlp") for c in present for x in OUTSIDERS}
    return want


@pytest.mark.parametrize(
    "spec, validators, nats_routes, otlp",
    [
        ({}, False, True, False),
        ({"validators": {"replicas": 4}}, True, True, False),
        ({"nats": {"replicas": 1}}, False, False, False),
        (
            {"validators": {"replicas": 1}, "tracing": {"otlpEndpoint": "http://jaeger:4317"}},
            True,
            True,
            True,
        ),
    ],
)
def test_exactly_the_drawn_flows_are_allowed(spec, validators, nats_routes, otlp):
    cluster = _cluster(spec)
    flows = _flows(cluster, netpol.build(cluster))
    want = _expected(validators=validators, nats_routes=nats_routes, otlp=otlp)
    assert flows - want == set(), "allowed but not drawn"
    assert want - flows == set(), "drawn but not allowed"


def test_what_the_architecture_does_not_draw_is_refused():
    cluster = _cluster({"validators": {"replicas": 4}})
    policies = netpol.build(cluster)
    world = _world(cluster)
    refused = [
        ("client-pod", "nats", 4222),  # clients have no NATS access at all
        ("outside", "nats", 4222),
        ("other-storage", "nats", 4222),  # another cluster's node is a stranger
        ("outside", "nats", 8222),  # monitoring: the kubelet's probes only
        ("outside", "nats", 6222),  # routes only between this cluster's servers
        ("index", "incentive", 7300),  # nothing calls an incentive replica
        ("outside", "incentive", 7300),
        ("incentive", "storage", 7000),  # receipts reach it over NATS only
        ("incentive", "index", 7100),
        ("storage", "index", 7100),  # storage nodes report over NATS, not gRPC
        ("nats", "storage", 7000),  # NATS opens no connection to anyone but its peers
        ("index", "outside", 443),  # no egress to the internet
        ("storage", "client-pod", 7000),
        ("storage", "other-storage", 7000),  # repair stays inside the cluster
    ]
    for src, dst, port in refused:
        assert not allowed(policies, world[src], world[dst], port), (src, dst, port)


def test_every_pod_resolves_names():
    cluster = _cluster({"validators": {"replicas": 4}})
    policies = netpol.build(cluster)
    world = _world(cluster)
    for c, proto in itertools.product(COMPONENTS, ("UDP", "TCP")):
        assert allowed(policies, world[c], world["outside"], 53, proto), (c, proto)


def test_the_default_deny_covers_every_pod_of_the_cluster_both_ways():
    cluster = _cluster({"validators": {"replicas": 4}})
    deny = next(p for p in netpol.build(cluster) if p["metadata"]["name"] == "demo-default-deny")
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    _, kids = _children({"validators": {"replicas": 4}})
    for obj in kids.values():
        if obj["kind"] in ("StatefulSet", "Deployment"):
            pod_labels = obj["spec"]["template"]["metadata"]["labels"]
            assert deny["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()


def _children(spec):
    cluster = _cluster(spec)
    material = (
        ensure_material(cluster, None, None, now_ms=1) if cluster.spec.validators.replicas else None
    )
    return cluster, {
        (m["kind"], m["metadata"]["name"]): m
        for m in build_all(
            cluster,
            DefaultImages(),
            trust_material=new_trust(cluster, material),
            certs=ensure_certs(cluster, None, {}),
            material=material,
        )
    }


def test_policies_are_owned_by_the_cluster_and_applied_before_the_workloads():
    cluster, kids = _children({"validators": {"replicas": 4}})
    names = [n for (kind, n) in kids if kind == "NetworkPolicy"]
    assert sorted(names) == sorted(
        f"demo-{n}"
        for n in (
            "default-deny",
            "egress-dns-otlp",
            "nats",
            "index",
            "storage",
            "validator",
            "incentive",
        )
    )
    order = [kind for (kind, _) in kids]
    assert max(i for i, k in enumerate(order) if k == "NetworkPolicy") < min(
        i for i, k in enumerate(order) if k in ("StatefulSet", "Deployment")
    )
    # the deny is applied last of the policies: the allows already isolate what they select
    assert names[-1] == "demo-default-deny"
    for name in names:
        (ref,) = kids[("NetworkPolicy", name)]["metadata"]["ownerReferences"]
        assert ref["uid"] == cluster.uid and ref["controller"] is True
    assert PLURALS[("networking.k8s.io/v1", "NetworkPolicy")] == "networkpolicies"


def test_a_cluster_without_validators_has_no_validator_or_incentive_policy():
    _, kids = _children({})
    assert ("NetworkPolicy", "demo-validator") not in kids
    assert ("NetworkPolicy", "demo-incentive") not in kids


def test_no_policy_lets_anything_into_an_incentive_replica():
    cluster, kids = _children({"validators": {"replicas": 4}})
    spec = kids[("NetworkPolicy", "demo-incentive")]["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in spec
    world = _world(cluster)
    for src in world:
        if src != "incentive":
            for port in PORTS.values():
                assert not allowed(netpol.build(cluster), world[src], world["incentive"], port)


@pytest.mark.parametrize(
    "endpoint, port",
    [
        ("", None),
        ("http://jaeger.tracing.svc:4317", 4317),
        ("https://collector.example.com:55680", 55680),
        ("http://jaeger", 4317),
        ("jaeger:14317", 14317),
        ("http://jaeger:99999", None),
    ],
)
def test_the_collectors_port_comes_from_the_endpoint(endpoint, port):
    assert netpol.otlp_port(endpoint) == port
