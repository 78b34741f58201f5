"""The local mesh's TLS: its CA and every process's certificate under STRATOS_HOME/run/tls, and
the credentials the CLI and the launcher call the mesh with.

`stratos dev up` makes the CA once (run/tls/ca.key never leaves this directory) and a
certificate per process, each naming the process and its role (`stratos.common.mesh_ca`), and
hands each process the paths in STRATOS_TLS_{CA,CERT,KEY}_FILE. They are reused on every start
and renewed when close to expiry; `stratos dev down --purge` removes them with the rest of run/.

Every gRPC server of the mesh requires a certificate from its CA (`stratos.common.tls` says why),
so the CLI presents the *client* role's: run/tls/client.pem for the local mesh, or, for another
mesh, the files STRATOS_TLS_{CA,CERT,KEY}_FILE name (its operator hands them out). Either way the
server is verified against the mesh's CA, never the system's roots.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from stratos.common import env
from stratos.common.errors import ConfigError
from stratos.common.mesh_ca import CertFiles, ensure_authority, ensure_certificate
from stratos.common.tls import CA_VAR, CERT_VAR, KEY_VAR, MeshTLS
from stratos.sdk.home import Home

CLIENT = "client"
ROLE_OF_KIND = {
    "index": "index",
    "storage": "storage",
    "validator": "consensus",
    "incentive": "incentive",
}


def tls_dir(home: Home) -> Path:
    return home.run_dir / "tls"


def issue_local(home: Home, processes: Iterable[tuple[str, str]]) -> dict[str, CertFiles]:
    """The CA under run/tls (made on first use) and a certificate for each (name, kind) of the
    local mesh's gRPC processes plus the CLI's client certificate; name → its files. Kinds
    without gRPC (nats) get none."""
    directory = tls_dir(home)
    ca = ensure_authority(directory)
    issued = {CLIENT: ensure_certificate(directory, ca, "client", CLIENT)}
    for name, kind in processes:
        if (role := ROLE_OF_KIND.get(kind)) is not None:
            issued[name] = ensure_certificate(directory, ca, role, name)
    return issued


def client_tls(home: Home) -> MeshTLS:
    """What the CLI calls the mesh with: STRATOS_TLS_{CA,CERT,KEY}_FILE when STRATOS_TLS_CA_FILE
    is set (another mesh), else the local mesh's client certificate."""
    # the names are spelt out: test_variables finds what the CLI reads by them
    ca = env.value("STRATOS_TLS_CA_FILE")
    if ca is not None:
        return MeshTLS.from_files(
            ca, env.value("STRATOS_TLS_CERT_FILE") or "", env.value("STRATOS_TLS_KEY_FILE") or ""
        )
    return local_client_tls(home)


def local_client_tls(home: Home) -> MeshTLS:
    """The local mesh's client certificate (what the launcher checks its processes with)."""
    directory = tls_dir(home)
    files = CertFiles(
        directory / "ca.pem", directory / f"{CLIENT}.pem", directory / f"{CLIENT}.key"
    )
    if not files.ca_file.exists():
        raise ConfigError(
            f"no mesh CA under {directory}; start the local mesh with 'stratos dev up', or set "
            f"{CA_VAR}, {CERT_VAR} and {KEY_VAR} to another mesh's",
            variables=[CA_VAR],
        )
    return MeshTLS.from_cert_files(files)
