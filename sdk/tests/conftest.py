"""Fixtures shared by the SDK's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devharness import Dev

from stratos.sdk.home import Home


@pytest.fixture
def home(tmp_path, monkeypatch) -> Home:
    """A fresh STRATOS_HOME, with no address overrides leaking in from the environment."""
    monkeypatch.setenv("STRATOS_HOME", str(tmp_path / "home"))
    for var in ("STRATOS_INDEX_ADDRESS", "STRATOS_CONSENSUS_ADDRESS", "STRATOS_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    return Home.from_env()


@pytest.fixture
def dev(tmp_path) -> Iterator[Dev]:
    """A `stratos` CLI bound to a fresh STRATOS_HOME; its mesh is stopped afterwards."""
    d = Dev(tmp_path / "home")
    try:
        yield d
    finally:
        d.close()
