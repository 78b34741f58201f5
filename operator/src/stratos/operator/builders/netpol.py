"""NetworkPolicies of a StratosCluster: deny everything, then allow only the flows the
architecture draws (docs/architecture.md, "Trust").

A pod is isolated for a direction once any policy selecting it names that direction, and the
policies that select it add up; so `<cluster>-default-deny` selects every pod of the cluster
for ingress and egress and allows nothing, and each other policy opens one component's flows:

    clients (anyone)  → index 7100, storage 7000, validators 7200   (the mesh's public doors)
    index             → storage 7000 (audits, cleanup), NATS 4222, validators 7200 (ozone,
                        suspended nodes; only with validators)
    storage           → storage 7000 (repair copies), NATS 4222
    validators        → validators 7200 (peers), NATS 4222
    incentive         → NATS 4222, validators 7200 (reports); nothing comes in
    NATS              → NATS 6222 (cluster routes, only with more than one server)
    every pod         → DNS 53, and the OTLP collector's port when tracing is on

The public gRPC ports admit any source, inside or outside the namespace: a user has to reach
the mesh, and who may do what is decided by the services themselves (TLS, tickets,
signatures), not by the network. The CRD has no field to narrow them (a NetworkPolicy of the
namespace's owner, added beside these, cannot narrow them either: policies only add; the
place to narrow is in front of the Services). NATS's client port admits only the cluster's own
index, storage, validator and incentive pods; its monitoring port and every probe port need no
rule, since traffic from the pod's own node (the kubelet's probes) is always allowed. An
incentive replica serves nothing but its probes, so no policy lets anything in.

DNS and OTLP egress go to any address on their port: cluster DNS may be a node-local cache and
the collector may live anywhere, and neither is known as a pod label here.

`validators.replicas` and `incentive.replicas` cannot change after creation, so the validator
and incentive policies never have to be pruned, and the operator needs no `delete` on
networkpolicies.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from stratos.operator.builders.meta import (
    APP_NAME,
    PORT_CONSENSUS,
    PORT_INDEX,
    PORT_NATS_CLIENT,
    PORT_NATS_CLUSTER,
    PORT_STORAGE,
    labels,
    owner_reference,
    selector_labels,
)
from stratos.operator.builders.spec import Cluster

API_VERSION = "networking.k8s.io/v1"
KIND = "NetworkPolicy"
PORT_DNS = 53
PORT_OTLP_DEFAULT = 4317  # OTLP/gRPC's own port, when the endpoint names none
COMPONENT = "network"  # the `component` label of the policies themselves (they select no pod)


def cluster_selector(cluster: Cluster) -> dict[str, Any]:
    """Every pod of this cluster (and no pod of another cluster in the namespace)."""
    return {
        "matchLabels": {
            "app.kubernetes.io/name": APP_NAME,
            "app.kubernetes.io/instance": cluster.name,
        }
    }


def pods_of(cluster: Cluster, component: str) -> dict[str, Any]:
    """A `from`/`to` peer: the pods of one component of this cluster, in its namespace."""
    return {"podSelector": {"matchLabels": selector_labels(cluster, component)}}


def tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def otlp_port(endpoint: str) -> int | None:
    """The collector's port of `spec.tracing.otlpEndpoint`, or None when tracing is off."""
    if not endpoint:
        return None
    parts = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}")
    try:
        port = parts.port
    except ValueError:  # a port out of range: the exporter cannot reach it either
        return None
    return port or PORT_OTLP_DEFAULT


def policy(
    cluster: Cluster,
    name: str,
    pods: dict[str, Any],
    *,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One policy; a direction given (even as []) is one the selected pods are isolated in."""
    spec: dict[str, Any] = {"podSelector": pods, "policyTypes": []}
    if ingress is not None:
        spec["policyTypes"].append("Ingress")
        if ingress:
            spec["ingress"] = ingress
    if egress is not None:
        spec["policyTypes"].append("Egress")
        if egress:
            spec["egress"] = egress
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": f"{cluster.name}-{name}",
            "namespace": cluster.namespace,
            "labels": labels(cluster, COMPONENT),
            "ownerReferences": [owner_reference(cluster)],
        },
        "spec": spec,
    }


def default_deny(cluster: Cluster) -> dict[str, Any]:
    return policy(cluster, "default-deny", cluster_selector(cluster), ingress=[], egress=[])


def common_egress(cluster: Cluster) -> dict[str, Any]:
    """DNS for every pod; the OTLP collector's port when the cluster exports traces."""
    egress = [
        {"ports": [{"protocol": p, "port": PORT_DNS} for p in ("UDP", "TCP")]},
    ]
    if (port := otlp_port(cluster.spec.otlp_endpoint)) is not None:
        egress.append({"ports": tcp(port)})
    return policy(cluster, "egress-dns-otlp", cluster_selector(cluster), egress=egress)


def _public(port: int) -> list[dict[str, Any]]:
    """Ingress on a public gRPC port from any source (no `from`: every address)."""
    return [{"ports": tcp(port)}]


def _to_nats(cluster: Cluster) -> dict[str, Any]:
    return {"to": [pods_of(cluster, "nats")], "ports": tcp(PORT_NATS_CLIENT)}


def _to_storage(cluster: Cluster) -> dict[str, Any]:
    return {"to": [pods_of(cluster, "storage")], "ports": tcp(PORT_STORAGE)}


def _to_validators(cluster: Cluster) -> dict[str, Any]:
    return {"to": [pods_of(cluster, "validator")], "ports": tcp(PORT_CONSENSUS)}


def nats(cluster: Cluster) -> dict[str, Any]:
    ingress: list[dict[str, Any]] = [
        {
            "from": [pods_of(cluster, c) for c in ("index", "storage", "validator", "incentive")],
            "ports": tcp(PORT_NATS_CLIENT),
        }
    ]
    egress: list[dict[str, Any]] = []
    if cluster.spec.nats.replicas > 1:
        route = tcp(PORT_NATS_CLUSTER)
        ingress.append({"from": [pods_of(cluster, "nats")], "ports": route})
        egress.append({"to": [pods_of(cluster, "nats")], "ports": route})
    return policy(
        cluster,
        "nats",
        {"matchLabels": selector_labels(cluster, "nats")},
        ingress=ingress,
        egress=egress,
    )


def index(cluster: Cluster) -> dict[str, Any]:
    egress = [_to_nats(cluster), _to_storage(cluster)]
    if cluster.spec.validators.replicas:
        egress.append(_to_validators(cluster))
    return policy(
        cluster,
        "index",
        {"matchLabels": selector_labels(cluster, "index")},
        ingress=_public(PORT_INDEX),
        egress=egress,
    )


def storage(cluster: Cluster) -> dict[str, Any]:
    return policy(
        cluster,
        "storage",
        {"matchLabels": selector_labels(cluster, "storage")},
        ingress=_public(PORT_STORAGE),
        egress=[_to_nats(cluster), _to_storage(cluster)],
    )


def validators(cluster: Cluster) -> dict[str, Any]:
    return policy(
        cluster,
        "validator",
        {"matchLabels": selector_labels(cluster, "validator")},
        ingress=_public(PORT_CONSENSUS),
        egress=[_to_validators(cluster), _to_nats(cluster)],
    )


def incentive(cluster: Cluster) -> dict[str, Any]:
    return policy(
        cluster,
        "incentive",
        {"matchLabels": selector_labels(cluster, "incentive")},
        ingress=[],
        egress=[_to_nats(cluster), _to_validators(cluster)],
    )


def build(cluster: Cluster) -> list[dict[str, Any]]:
    """Every policy of `cluster`, the allows before the deny: an allow already isolates the pods
    it selects, so applying them in this order never cuts a running pod off from a flow it
    keeps (the operator applies them before the workloads, so new pods start isolated)."""
    out = [common_egress(cluster), nats(cluster), index(cluster), storage(cluster)]
    if cluster.spec.validators.replicas:
        out.append(validators(cluster))
    if cluster.incentive_replicas:
        out.append(incentive(cluster))
    return [*out, default_deny(cluster)]
