"""Where the CLI and the launcher find the mesh's TLS: the local mesh's CA and certificates under
STRATOS_HOME/run/tls (made once, reused), or another mesh's files named by STRATOS_TLS_*."""

from __future__ import annotations

import stat

import pytest

from stratos.common.errors import ConfigError
from stratos.common.testing_tls import cert_files
from stratos.common.tls import PeerIdentity
from stratos.sdk import meshtls


def test_the_local_mesh_gets_a_ca_and_a_certificate_per_grpc_process_made_once(home):
    issued = meshtls.issue_local(
        home, [("index", "index"), ("storage-1", "storage"), ("nats", "nats")]
    )
    assert set(issued) == {"client", "index", "storage-1"}  # nats speaks no gRPC
    tls = meshtls.tls_dir(home)
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700
    for f in tls.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    before = {f.name: f.read_bytes() for f in tls.iterdir()}
    meshtls.issue_local(home, [("index", "index"), ("storage-1", "storage")])
    assert {f.name: f.read_bytes() for f in tls.iterdir()} == before
    assert meshtls.local_client_tls(home).identity() == PeerIdentity("client", "client")


def test_without_a_local_mesh_the_cli_says_how_to_get_its_ca(home):
    with pytest.raises(ConfigError, match=r"no mesh CA under .*stratos dev up"):
        meshtls.client_tls(home)


def test_another_meshs_files_come_from_stratos_tls_variables(home, monkeypatch):
    for name, value in cert_files().env().items():
        monkeypatch.setenv(name, value)
    assert meshtls.client_tls(home).identity() == PeerIdentity("client", "client")
    monkeypatch.setenv("STRATOS_TLS_KEY_FILE", str(home.root / "missing.key"))
    with pytest.raises(ConfigError, match="STRATOS_TLS_KEY_FILE: cannot read"):
        meshtls.client_tls(home)
