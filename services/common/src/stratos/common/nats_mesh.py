"""One mesh's NATS security material in one private directory: a credentials file per user
(`stratos.common.nats_auth`), the TLS files (`stratos.common.nats_tls`), and the lines of
nats-server's config that admit those users only and speak TLS only.

The local mesh keeps it under `$STRATOS_HOME/run/nats-auth/` and the test harness in its
temporary directory; both add a user when a process of a new name (a storage node) joins and
then have the server reload its config. What a process needs to sign in is in `env()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stratos.common.files import private_dir
from stratos.common.mesh_ca import problem_with
from stratos.common.nats_auth import NatsUser, authorization_block, ensure_user
from stratos.common.nats_credentials import NatsLogin, read_credentials
from stratos.common.nats_roles import Role, user_label
from stratos.common.nats_tls import NatsTlsFiles, make_tls_files, tls_block

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]


@dataclass(frozen=True)
class NatsSecurity:
    directory: Path
    hosts: tuple[str, ...] = tuple(LOOPBACK_HOSTS)
    # the mesh CA (`stratos.common.mesh_ca`, the one gRPC uses) issues the server's certificate;
    # without one a CA of NATS's own is made beside it (the test harness's servers)
    ca_file: Path | None = None
    ca_key_file: Path | None = None

    @property
    def users_dir(self) -> Path:
        return self.directory / "users"

    @property
    def tls_dir(self) -> Path:
        return self.directory / "tls"

    def user_file(self, role: Role, name: str = "") -> Path:
        """The user's credentials file (made on first use, 0600)."""
        return ensure_user(self.users_dir, role, name)[1]

    def has_user(self, role: Role, name: str = "") -> bool:
        return (self.users_dir / f"{user_label(role, name)}.nk").exists()

    def users(self) -> list[NatsUser]:
        """Every user made so far, with the permissions its role has today."""
        found = []
        for path in sorted(self.users_dir.glob("*.nk")) if self.users_dir.exists() else []:
            label = read_credentials(path).label
            role_name, _, name = label.partition(".")
            found.append(ensure_user(self.users_dir, Role(role_name), name)[0])
        return found

    def tls(self) -> NatsTlsFiles:
        """The server's TLS files, made on first use and again when the CA is not the one that
        issued them (a mesh that had a NATS CA of its own before it had one mesh CA)."""
        cert = self.tls_dir / "server.pem"
        if cert.exists() and (self.tls_dir / "server-key.pem").exists():
            ca = self.ca_file or self.tls_dir / "ca.pem"
            if ca.exists() and problem_with(cert.read_bytes(), ca.read_bytes()) is None:
                return NatsTlsFiles(ca, cert, self.tls_dir / "server-key.pem")
        return make_tls_files(
            self.tls_dir, list(self.hosts), ca_file=self.ca_file, ca_key_file=self.ca_key_file
        )

    def server_config(self) -> str:
        """The lines that make a server admit only these users (an admin user is always
        there), over TLS only."""
        private_dir(self.directory)
        self.user_file(Role.ADMIN)
        return tls_block(self.tls()) + authorization_block(self.users())

    def route_tls(self) -> str:
        """The `tls {}` for a `cluster {}` block: routes verify each other with the CA."""
        return tls_block(self.tls(), verify=True, indent="  ")

    def login(self, role: Role, name: str = "") -> NatsLogin:
        return NatsLogin(
            credentials=read_credentials(self.user_file(role, name)),
            tls_ca_file=str(self.tls().ca_file),
        )

    def env(self, role: Role, name: str = "") -> dict[str, str]:
        """The variables a service of this role signs in with."""
        return {
            "STRATOS_NATS_NKEY_FILE": str(self.user_file(role, name)),
            "STRATOS_NATS_TLS_CA_FILE": str(self.tls().ca_file),
        }
