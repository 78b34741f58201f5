"""Fixtures for the index tests: a real nats-server with JetStream per test (fast to start, and
no state leaks between tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stratos.common.testing import NatsProcess, nats_server


@pytest.fixture
def nats() -> Iterator[NatsProcess]:
    with nats_server() as n:
        yield n
