"""The `Kube` behaviour suite (`kube_contract.py`) against the in-memory fake the reconcile tests
use; the cluster tier runs the same suite against a real kube-apiserver."""

from __future__ import annotations

import pytest
from fake_kube import FakeKube
from kube_contract import KubeContract


class TestFakeKube(KubeContract):
    @pytest.fixture
    def namespaces(self) -> tuple[str, str]:
        return ("contract", "contract-other")

    @pytest.fixture
    def kube(self, namespaces: tuple[str, str]) -> FakeKube:
        return FakeKube(namespaces=namespaces)
