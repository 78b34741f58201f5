"""Every storage test runs in a mesh with an admission list: the settings are in os.environ for
the nodes a test spawns, and `trust_support` signs what a test publishes as the index."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trust_support

from stratos.common.testing import TrustedMesh, trusted_mesh


@pytest.fixture(autouse=True)
def mesh(tmp_path) -> Iterator[TrustedMesh]:
    with trusted_mesh(tmp_path / "trust") as m:
        trust_support.MESH = m
        try:
            yield m
        finally:
            trust_support.MESH = None
