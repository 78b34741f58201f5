"""Test support: one mesh CA per test process (in a private temporary directory, removed at
exit) and certificates from it, so in-process servers and clients, and the service processes a
test starts, speak the same mutual TLS as a real mesh. (There is no plaintext mode to fall back
to: `stratos.common.tls`.)"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from stratos.common.mesh_ca import CertFiles, Issued, ensure_authority, ensure_certificate
from stratos.common.tls import Credentials, MeshTLS


@functools.cache
def _root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="stratos-test-ca-"))
    atexit.register(shutil.rmtree, root, True)
    return root


@functools.cache
def _ca() -> Issued:
    return ensure_authority(_root())


def cert_files(role: str = "client", name: str = "client") -> CertFiles:
    """Files for a service process (`CertFiles.env()` is what to put in its environment)."""
    return ensure_certificate(_root(), _ca(), role, name)


@functools.cache
def mesh_tls(role: str = "client", name: str = "client") -> MeshTLS:
    return MeshTLS.from_cert_files(cert_files(role, name))


def credentials(role: str = "client", name: str = "client") -> Credentials:
    """What an in-process server or client of the test mesh uses."""
    return mesh_tls(role, name).credentials()


def channel_credentials(role: str = "client", name: str = "client"):
    return mesh_tls(role, name).channel_credentials()


def server_credentials(role: str = "storage", name: str = "storage"):
    return mesh_tls(role, name).server_credentials()
