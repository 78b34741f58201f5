"""The operator's mesh CA: made once, certificates reused from their Secrets while good, renewed
near expiry, each naming the names its component's pods are reached at; a damaged CA stops."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from operator_support import cluster_body

from stratos.common import mesh_ca
from stratos.common.errors import PermanentError
from stratos.operator.builders.spec import parse_cluster
from stratos.operator.builders.tls import secrets
from stratos.operator.meshcerts import ensure_certs


def _by_name(cluster, certs):
    return {s["metadata"]["name"]: s for s in secrets(cluster, certs)}


def test_certificates_are_reused_from_their_secrets_and_renewed_near_expiry():
    cluster = parse_cluster(cluster_body())
    first = ensure_certs(cluster, None, {})
    stored = _by_name(cluster, first)
    components = {c: stored[f"demo-{c}-tls"] for c in first.components}
    again = ensure_certs(cluster, stored["demo-mesh-ca"], components)
    assert again == first
    late = dt.datetime.now(dt.UTC) + mesh_ca.CERT_VALID - dt.timedelta(days=1)
    renewed = ensure_certs(cluster, stored["demo-mesh-ca"], components, now=late)
    assert renewed.ca == first.ca
    assert renewed.components["storage"] != first.components["storage"]


def test_a_storage_certificate_names_every_storage_pod():
    cluster = parse_cluster(cluster_body())
    cert = x509.load_pem_x509_certificate(
        ensure_certs(cluster, None, {}).components["storage"].cert_pem.encode()
    )
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert f"*.demo-storage.{cluster.namespace}.svc" in sans.get_values_for_type(x509.DNSName)
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
        "stratos://mesh/storage/storage"
    ]


def test_a_damaged_ca_secret_is_refused_not_replaced():
    cluster = parse_cluster(cluster_body())
    with pytest.raises(PermanentError, match="mesh CA Secret"):
        ensure_certs(cluster, {"data": {"ca.pem": "Z2FyYmFnZQ=="}}, {})
