"""Fixtures shared by the SDK's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devharness import Dev


@pytest.fixture
def dev(tmp_path) -> Iterator[Dev]:
    """A `stratos` CLI bound to a fresh STRATOS_HOME; its mesh is stopped afterwards."""
    d = Dev(tmp_path / "home")
    try:
        yield d
    finally:
        d.close()
