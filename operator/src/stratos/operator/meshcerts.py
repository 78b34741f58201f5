"""The mesh CA and the components' certificates of a cluster, made once and renewed in time.

Like `keys.py`, this is an impure step of rendering (fresh keys, the clock) kept out of the
builders: what the Secrets hold is reused while it is still good — the same CA, the names the
component needs, valid for another `mesh_ca.RENEW_BEFORE` — and made afresh otherwise. A CA
Secret that exists but is damaged is an error, never replaced: every pod and user trusting it
would be cut off. (cert-manager, where installed, could do the issuing; the operator does it
itself so a cluster without it is not left in plaintext.)
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any

from stratos.common import mesh_ca
from stratos.common.errors import PermanentError
from stratos.common.tls import MeshTLS
from stratos.operator.builders.spec import Cluster
from stratos.operator.builders.tls import ROLES, Certificate, MeshCerts, dns_names


def _files(secret: Mapping[str, Any] | None) -> dict[str, bytes]:
    data = (secret or {}).get("data") or {}
    return {name: base64.b64decode(value) for name, value in data.items()}


def ensure_certs(
    cluster: Cluster,
    ca_secret: Mapping[str, Any] | None,
    component_secrets: Mapping[str, Mapping[str, Any] | None],
    *,
    now: dt.datetime | None = None,
) -> MeshCerts:
    """The CA from `ca_secret` (made when there is none) and a certificate per component from
    `component_secrets` (component → its Secret, or None), each reused while still good."""
    ca_files = _files(ca_secret)
    if not ca_files:
        ca = mesh_ca.new_authority(
            f"Stratos mesh CA of {cluster.namespace}/{cluster.name}", now=now
        )
    else:
        cert, key = ca_files.get("ca.pem"), ca_files.get("ca.key")
        problem = "lacks ca.pem or ca.key" if not cert or not key else None
        problem = problem or mesh_ca.problem_with(cert, cert, now=now)
        if problem:
            raise PermanentError(f"the mesh CA Secret of {cluster.name} {problem}")
        ca = mesh_ca.Issued(cert, key)
    later = (now or dt.datetime.now(dt.UTC)) + mesh_ca.RENEW_BEFORE
    components: dict[str, Certificate] = {}
    for component, role in ROLES.items():
        names = dns_names(cluster, component)
        files = _files(component_secrets.get(component))
        cert, key = files.get("tls.crt"), files.get("tls.key")
        fresh = (
            cert is None
            or key is None
            or mesh_ca.problem_with(cert, ca.cert_pem, now=later) is not None
            or not mesh_ca.names_match(cert, mesh_ca.identity_uri(role, component), names, ())
        )
        if fresh:
            issued = mesh_ca.issue(
                ca, role, component, dns_names=names, ip_addresses=("127.0.0.1",), now=now
            )
            cert, key = issued.cert_pem, issued.key_pem
        components[component] = Certificate(cert.decode(), key.decode())
    return MeshCerts(Certificate(ca.cert_pem.decode(), ca.key_pem.decode()), components)


def credentials(certs: MeshCerts, component: str = "operator"):
    """gRPC channel credentials of `component` (the operator's own, by default)."""
    cert = certs.components[component]
    return MeshTLS(
        certs.ca.cert_pem.encode(), cert.cert_pem.encode(), cert.key_pem.encode()
    ).channel_credentials()
