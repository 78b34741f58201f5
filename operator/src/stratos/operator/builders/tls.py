"""The mesh TLS of a StratosCluster as Kubernetes objects: the CA Secret (read by the operator
only), one Secret per component (its CA, certificate and key, mounted into its pods), and what a
pod needs to use it — the volume, the STRATOS_TLS_* variables (and STRATOS_NATS_TLS_CA_FILE: the
same CA vouches for the NATS servers), and the plaintext health port the kubelet's gRPC probes use
(they speak no TLS; `stratos.common.tls`).

One certificate per component, not per pod: a StatefulSet mounts one Secret into every pod, so
a storage certificate names every storage pod (`*.<name>-storage.<ns>.svc`). The certificate
says the caller *is a storage node of this mesh*; which node is the node identity's business
(ed25519 keys, admitted by name).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stratos.operator.builders.meta import child_name, metadata
from stratos.operator.builders.spec import Cluster

TLS_DIR = "/etc/stratos/tls"
HEALTH_PORT_OFFSET = 1  # each service's plaintext health port is its gRPC port + 1
# component (as the builders name it) → the role its certificate names
ROLES = {
    "index": "index",
    "storage": "storage",
    "validator": "consensus",
    "incentive": "incentive",
    "operator": "operator",
    "client": "client",
    # the NATS servers prove to their clients and to each other's routes that they are this
    # mesh's; on gRPC their certificate must grant nothing, so it is a client's
    "nats": "client",
}


@dataclass(frozen=True)
class Certificate:
    cert_pem: str
    key_pem: str


@dataclass(frozen=True)
class MeshCerts:
    """The cluster's CA and a certificate per component in `ROLES` (made by `meshcerts`)."""

    ca: Certificate
    components: Mapping[str, Certificate]


def ca_secret_name(cluster: Cluster) -> str:
    return f"{cluster.name}-mesh-ca"


def tls_secret_name(cluster: Cluster, component: str) -> str:
    return f"{child_name(cluster, component)}-tls"


def dns_names(cluster: Cluster, component: str) -> list[str]:
    """The names a component's pods are reached at: its Service, and each pod of a headless
    one (storage, validators; the NATS servers' routes dial `<pod>.<name>-nats-headless`). The
    validators also answer on their client Service, `<name>-consensus`."""
    svc = child_name(cluster, component)
    ns = cluster.namespace
    names = [svc, f"{svc}.{ns}", f"{svc}.{ns}.svc", f"*.{svc}.{ns}.svc"]
    if component in ("operator", "client"):
        return [child_name(cluster, component)]
    if component == "nats":
        return [*names, f"*.{svc}-headless.{ns}.svc"]
    if component == "validator":
        client = child_name(cluster, "consensus")
        return [*names, client, f"{client}.{ns}", f"{client}.{ns}.svc"]
    return names + (["localhost"] if component == "index" else [])


def _secret(cluster: Cluster, component: str, name: str, files: Mapping[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(cluster, component, name),
        "type": "Opaque",
        # `data`, not `stringData`: server-side apply then compares like with like
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(files.items())},
    }


def secrets(cluster: Cluster, certs: MeshCerts) -> list[dict[str, Any]]:
    """The CA's Secret and one per component. The client's is what an admin hands to users
    (`kubectl get secret <name>-client-tls`): it grants nothing a stranger may not do."""
    out = [
        _secret(
            cluster,
            "operator",
            ca_secret_name(cluster),
            {"ca.pem": certs.ca.cert_pem, "ca.key": certs.ca.key_pem},
        )
    ]
    for component, cert in sorted(certs.components.items()):
        out.append(
            _secret(
                cluster,
                component,
                tls_secret_name(cluster, component),
                {"ca.pem": certs.ca.cert_pem, "tls.crt": cert.cert_pem, "tls.key": cert.key_pem},
            )
        )
    return out


def volume(cluster: Cluster, component: str) -> dict[str, Any]:
    # group-readable: the files belong to root, the pod's group is fsGroup
    return {
        "name": "tls",
        "secret": {"secretName": tls_secret_name(cluster, component), "defaultMode": 0o440},
    }


def mount() -> dict[str, Any]:
    return {"name": "tls", "mountPath": TLS_DIR, "readOnly": True}


def env(grpc_port: int) -> list[dict[str, Any]]:
    return [
        {"name": "STRATOS_TLS_CA_FILE", "value": f"{TLS_DIR}/ca.pem"},
        {"name": "STRATOS_TLS_CERT_FILE", "value": f"{TLS_DIR}/tls.crt"},
        {"name": "STRATOS_TLS_KEY_FILE", "value": f"{TLS_DIR}/tls.key"},
        # every pod with a certificate talks to NATS, whose servers the same CA vouches for
        {"name": "STRATOS_NATS_TLS_CA_FILE", "value": f"{TLS_DIR}/ca.pem"},
        {"name": "STRATOS_HEALTH_ADDRESS", "value": f"0.0.0.0:{health_port(grpc_port)}"},
    ]


def health_port(grpc_port: int) -> int:
    return grpc_port + HEALTH_PORT_OFFSET
