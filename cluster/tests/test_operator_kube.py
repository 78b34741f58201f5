"""The `Kube` behaviour suite (`operator/tests/kube_contract.py`) against the real kube-apiserver
of this tier, through the operator's own `ApiKube`; the unit tier runs the same suite against
the in-memory fake, so the fake cannot drift from what the API server does."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, config

from cluster.controlplane import REPO, ControlPlane
from stratos.operator.kube import ApiKube

# the suite lives with the operator's tests, beside its binding to the fake
sys.path.insert(0, str(REPO / "operator" / "tests"))
from kube_contract import KubeContract


@pytest.fixture(scope="module")
def api(cp: ControlPlane) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(cp.kubeconfig))
    try:
        yield api
    finally:
        api.close()


class TestApiKube(KubeContract):
    @pytest.fixture
    def namespaces(self, api: client.ApiClient) -> Iterator[tuple[str, str]]:
        """Two fresh namespaces per test, so no test sees another's objects."""
        core = client.CoreV1Api(api)
        ns = f"kube-contract-{uuid.uuid4().hex[:8]}"
        pair = (ns, f"{ns}-other")
        for name in pair:
            core.create_namespace({"metadata": {"name": name}})
        try:
            yield pair
        finally:
            for name in pair:
                core.delete_namespace(name)  # the namespace controller empties it later

    @pytest.fixture
    def kube(self, api: client.ApiClient) -> ApiKube:
        return ApiKube(api)
