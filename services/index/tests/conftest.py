"""Fixtures for the index tests: a real nats-server with JetStream per test (fast to start, and
no state leaks between tests)."""

from __future__ import annotations

from collections.abc import Iterator

import index_support
import pytest

from stratos.common.testing import NatsProcess, TrustedMesh, nats_server, trusted_mesh


@pytest.fixture
def nats() -> Iterator[NatsProcess]:
    with nats_server() as n:
        yield n


@pytest.fixture(autouse=True)
def mesh(tmp_path) -> Iterator[TrustedMesh]:
    """The admission list and keys every index here runs with (in os.environ for processes;
    in-process components take `mesh.signer(INDEX_ID)` and `mesh.gate()`)."""
    with trusted_mesh(tmp_path / "trust") as m:
        index_support.MESH = m
        try:
            yield m
        finally:
            index_support.MESH = None
