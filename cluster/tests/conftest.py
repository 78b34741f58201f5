"""The cluster tier: one real control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok) for the whole session, in a temporary state dir, torn down at the end.

It never skips. The tools are built first by hack/cluster-tools/build.sh (once; cached outside
the repository), and a toolchain that cannot be built fails the session with build.sh's own
sentence — in CI (`STRATOS_REQUIRE_ALL_TIERS=1`, set by .ci/run) and on a laptop alike."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cluster.controlplane import ClusterError, ControlPlane, bin_dir
from cluster.harness import install_chart


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: needs a real Kubernetes control plane (make test-cluster)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "cluster" in item.path.parts and "tests" in item.path.parts:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    required = os.environ.get("STRATOS_REQUIRE_ALL_TIERS") == "1"
    try:
        tools = bin_dir(build=True)
    except ClusterError as err:
        why = str(err).rstrip(".")
        how = " (STRATOS_REQUIRE_ALL_TIERS=1: this tier must run, never skip)" if required else ""
        pytest.fail(f"the cluster tier has no toolchain: {why}{how}", pytrace=False)
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"), tools)
    try:
        plane.up(volumes=40, wait_s=180)
    except ClusterError as err:
        plane.purge()
        pytest.fail(str(err), pytrace=False)
    try:
        yield plane
    finally:
        plane.purge()


@pytest.fixture(scope="session")
def chart(cp: ControlPlane) -> ControlPlane:
    """The chart installed (CRD, RBAC, the operator's Deployment) once for the session."""
    install_chart(cp)
    return cp
