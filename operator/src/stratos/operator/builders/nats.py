"""NATS with JetStream: the config, a headless Service for the cluster routes, a client Service
and a StatefulSet with one volume per server (JetStream's file store).

With 3 or more servers JetStream runs clustered (a RAFT group per stream) and the index and the
storage nodes create every stream and bucket with min(3, servers) replicas (STRATOS_NATS_REPLICAS,
`meta.jetstream_replicas`), so the index keeps no single point of failure; 1 server is for
development. Every server fsyncs each write before acknowledging it (`sync_interval: always`).

Only the users of `builders/trust.py` get in (NKeys: the config holds public keys only, so it
may be a ConfigMap), each with its role's subjects (`stratos.common.nats_roles`); there is no
anonymous user. nats-server reads its users at start only, so the pod template carries a hash
of the config: a change of users (a storage node added or removed) rolls the servers one at a
time (lame duck first). The monitoring port serves the kubelet's probes only: no Service
publishes it and the NetworkPolicies let no pod reach it; it stays plaintext, since the kubelet's
probes speak no TLS (and it shows no message).

Clients and routes speak TLS only, with the mesh CA's `nats` certificate (`builders/tls.py`)
mounted as Secret files: the config has the `tls {}` blocks the local mesh's has
(`stratos.common.nats_tls.tls_block`), and a route must show a certificate from the mesh CA that
names one of the configured routes (`verify_cert_and_check_known_urls`), which only the NATS
servers' does. A renewed certificate changes the pod template's hash and so rolls the servers,
which read their certificate at start.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from stratos.common.limits import NATS_MAX_PAYLOAD_BYTES
from stratos.common.nats_auth import NatsUser, authorization_block
from stratos.common.nats_tls import NatsTlsFiles, tls_block
from stratos.operator.builders import tls
from stratos.operator.builders.meta import (
    CLAIM_RETENTION,
    PORT_NATS_CLIENT,
    PORT_NATS_CLUSTER,
    PORT_NATS_MONITOR,
    DefaultImages,
    child_name,
    container_security_context,
    image,
    metadata,
    pod_name_env,
    pod_security_context,
    pvc_template,
    selector_labels,
)
from stratos.operator.builders.secrets import secret_files
from stratos.operator.builders.spec import Cluster, parse_quantity

COMPONENT = "nats"
CONFIG_HASH = "stratos.io/nats-config"
NATS_UID = 1000  # any non-root uid: the nats image needs no file outside its volume
TLS_FILES = NatsTlsFiles(  # where the pod mounts the NATS Secret
    Path(tls.TLS_DIR, "ca.pem"), Path(tls.TLS_DIR, "tls.crt"), Path(tls.TLS_DIR, "tls.key")
)


def headless_name(cluster: Cluster) -> str:
    return f"{child_name(cluster, COMPONENT)}-headless"


def config_text(cluster: Cluster, users: list[NatsUser]) -> str:
    """nats.conf admitting only `users`, over TLS only; `$POD_NAME` is expanded by nats-server
    from the environment."""
    nats = cluster.spec.nats
    # leave 10% of the volume to the filesystem and JetStream's own metadata
    max_file = parse_quantity(nats.storage_size, "spec.nats.storageSize") * 9 // 10
    lines = [
        "server_name: $POD_NAME",
        f"listen: 0.0.0.0:{PORT_NATS_CLIENT}",
        f"http: 0.0.0.0:{PORT_NATS_MONITOR}",
        "lame_duck_duration: 30s",
        # the index stores each manifest as one message; the server's default is only 1 MiB
        f"max_payload: {NATS_MAX_PAYLOAD_BYTES}",
        "jetstream {",
        "  store_dir: /data",
        f"  max_file_store: {max_file}",
        # fsync each write before acknowledging it; JetStream's default (every two minutes)
        # lets a power cut take manifests whose put had already succeeded
        "  sync_interval: always",
        "}",
    ]
    lines.append(tls_block(TLS_FILES).rstrip("\n"))
    if nats.replicas > 1:
        headless = f"{headless_name(cluster)}.{cluster.namespace}.svc"
        routes = ", ".join(
            f"nats://{child_name(cluster, COMPONENT)}-{i}.{headless}:{PORT_NATS_CLUSTER}"
            for i in range(nats.replicas)
        )
        lines += [
            "cluster {",
            f"  name: {cluster.name}",
            f"  listen: 0.0.0.0:{PORT_NATS_CLUSTER}",
            f"  routes: [{routes}]",
            tls_block(TLS_FILES, known_urls=True, indent="  ").rstrip("\n"),
            "}",
        ]
    return "\n".join(lines) + "\n" + authorization_block(users)


def config_map(cluster: Cluster, text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(cluster, COMPONENT, f"{child_name(cluster, COMPONENT)}-config"),
        "data": {"nats.conf": text},
    }


def _ports() -> list[dict[str, Any]]:
    return [
        {"name": "client", "port": PORT_NATS_CLIENT, "targetPort": "client"},
        {"name": "cluster", "port": PORT_NATS_CLUSTER, "targetPort": "cluster"},
    ]


def headless_service(cluster: Cluster) -> dict[str, Any]:
    """Per-pod DNS for the cluster routes, published before the pods are ready (routes must
    form before any server can be ready)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(cluster, COMPONENT, headless_name(cluster)),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector_labels(cluster, COMPONENT),
            "ports": _ports(),
        },
    }


def client_service(cluster: Cluster) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(cluster, COMPONENT),
        "spec": {
            "selector": selector_labels(cluster, COMPONENT),
            "ports": [{"name": "client", "port": PORT_NATS_CLIENT, "targetPort": "client"}],
        },
    }


def _args(cluster: Cluster) -> list[str]:
    args = ["--config", "/etc/nats/nats.conf"]
    if cluster.spec.nats.replicas > 1:
        # the address the other servers learn for this one's routes: by default its pod IP,
        # which the certificate does not name (Kubernetes expands `$(POD_NAME)`)
        host = f"$(POD_NAME).{headless_name(cluster)}.{cluster.namespace}.svc"
        args += ["--cluster_advertise", f"{host}:{PORT_NATS_CLUSTER}"]
    return args


def stateful_set(
    cluster: Cluster, defaults: DefaultImages, config: str, cert: tls.Certificate
) -> dict[str, Any]:
    nats = cluster.spec.nats
    name = child_name(cluster, COMPONENT)
    tls_volume, tls_mount = secret_files(
        "tls", tls.tls_secret_name(cluster, COMPONENT), tls.TLS_DIR
    )
    # the servers read their users and certificate at start: either changing rolls them
    rolled = hashlib.sha256((config + cert.cert_pem).encode()).hexdigest()[:16]
    container = {
        "name": "nats",
        "image": image(cluster, defaults, COMPONENT),
        "imagePullPolicy": cluster.spec.image_pull_policy,
        "args": _args(cluster),
        "env": pod_name_env(),
        "ports": [
            {"name": "client", "containerPort": PORT_NATS_CLIENT},
            {"name": "cluster", "containerPort": PORT_NATS_CLUSTER},
            {"name": "monitor", "containerPort": PORT_NATS_MONITOR},
        ],
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/nats", "readOnly": True},
            {"name": "data", "mountPath": "/data"},
            tls_mount,
        ],
        "startupProbe": {
            "httpGet": {"path": "/healthz", "port": "monitor"},
            "periodSeconds": 2,
            "failureThreshold": 90,
        },
        "readinessProbe": {
            "httpGet": {"path": "/healthz?js-enabled-only=true", "port": "monitor"},
            "periodSeconds": 5,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz?js-enabled-only=true", "port": "monitor"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "securityContext": container_security_context(),
        "resources": nats.resources.manifest(),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(cluster, COMPONENT),
        "spec": {
            "serviceName": headless_name(cluster),
            "replicas": nats.replicas,
            # all servers must be up for the routes to form a quorum; order buys nothing
            "podManagementPolicy": "Parallel",
            "persistentVolumeClaimRetentionPolicy": CLAIM_RETENTION,
            "selector": {"matchLabels": selector_labels(cluster, COMPONENT)},
            "template": {
                "metadata": {
                    "labels": metadata(cluster, COMPONENT)["labels"],
                    "annotations": {CONFIG_HASH: rolled},
                },
                "spec": {
                    "securityContext": pod_security_context(NATS_UID),
                    "automountServiceAccountToken": False,  # it never calls the API server
                    "terminationGracePeriodSeconds": 60,
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": f"{name}-config"}},
                        tls_volume,
                    ],
                },
            },
            "volumeClaimTemplates": [
                pvc_template("data", nats.storage_size, nats.storage_class_name)
            ],
        },
    }


def build(
    cluster: Cluster, defaults: DefaultImages, users: list[NatsUser], cert: tls.Certificate
) -> list[dict[str, Any]]:
    """`cert` is the NATS servers' certificate (`MeshCerts.components["nats"]`)."""
    text = config_text(cluster, users)
    return [
        config_map(cluster, text),
        headless_service(cluster),
        client_service(cluster),
        stateful_set(cluster, defaults, text, cert),
    ]
