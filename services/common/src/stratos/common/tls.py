"""A process's mesh TLS credentials, as gRPC uses them, and who the verified peer of a call is.

Every gRPC server of the mesh requires a client certificate from the mesh CA (mutual TLS), and
every channel presents one. grpcio can only *require* a client certificate or *not ask* for one
(`ssl_server_credentials(require_client_auth=...)`; there is no "ask, but accept none"), so a
server could not otherwise tell a service from a stranger on one port. So the CLI presents one
too: the *client* role's certificate, which proves nothing beyond "speaks to this mesh" (the local
launcher issues it under STRATOS_HOME; the operator keeps it in a Secret an admin hands out). The
role a peer's certificate names is what `peer_identity` returns, for RPCs that only a service
may call.

The standard health service is served in plaintext on its own port where one is configured
(`STRATOS_HEALTH_ADDRESS`, `grpcutil.start_server`): Kubernetes' native gRPC probes speak no TLS.
It says SERVING or not, nothing else.

Where the files come from is a setting (STRATOS_TLS_{CA,CERT,KEY}_FILE); a missing, unreadable
or bad file is a ConfigError naming the variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stratos.common.errors import ConfigError
from stratos.common.mesh_ca import parse_identity_uri, problem_with

if TYPE_CHECKING:
    import grpc

    from stratos.common.mesh_ca import CertFiles

CA_VAR, CERT_VAR, KEY_VAR = "STRATOS_TLS_CA_FILE", "STRATOS_TLS_CERT_FILE", "STRATOS_TLS_KEY_FILE"


@dataclass(frozen=True)
class PeerIdentity:
    """Who the mesh CA says the caller is."""

    role: str
    name: str


@dataclass(frozen=True)
class Credentials:
    """What a process serves and calls with. A service's `serve()` takes one (built from its
    settings by default), so a tests-only entry point can hand it something else."""

    server: grpc.ServerCredentials
    channel: grpc.ChannelCredentials


@dataclass(frozen=True)
class MeshTLS:
    """The mesh CA's certificate and this process's certificate and key, PEM."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @classmethod
    def from_files(
        cls, ca_file: str | Path, cert_file: str | Path, key_file: str | Path
    ) -> MeshTLS:
        """Read and check the three files; anything wrong is one sentence naming the variable."""
        ca = _read(CA_VAR, ca_file)
        cert = _read(CERT_VAR, cert_file)
        key = _read(KEY_VAR, key_file)
        if problem := problem_with(ca, ca):
            raise ConfigError(f"{CA_VAR}: {ca_file} {problem}", variables=[CA_VAR])
        if problem := problem_with(cert, ca):
            raise ConfigError(f"{CERT_VAR}: {cert_file} {problem}", variables=[CERT_VAR])
        if not _key_matches(cert, key):
            raise ConfigError(
                f"{KEY_VAR}: {key_file} is not the private key of {cert_file}", variables=[KEY_VAR]
            )
        return cls(ca, cert, key)

    @classmethod
    def from_cert_files(cls, files: CertFiles) -> MeshTLS:
        return cls.from_files(files.ca_file, files.cert_file, files.key_file)

    def server_credentials(self) -> grpc.ServerCredentials:
        """TLS with this certificate, requiring a client certificate from the mesh CA."""
        import grpc

        return grpc.ssl_server_credentials(
            [(self.key_pem, self.cert_pem)], root_certificates=self.ca_pem, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """TLS that trusts only the mesh CA and presents this certificate."""
        import grpc

        return grpc.ssl_channel_credentials(self.ca_pem, self.key_pem, self.cert_pem)

    def credentials(self) -> Credentials:
        return Credentials(self.server_credentials(), self.channel_credentials())

    def identity(self) -> PeerIdentity:
        """Who this process's own certificate names."""
        from cryptography import x509

        found = _identity_of(
            x509.load_pem_x509_certificate(self.cert_pem)
            .extensions.get_extension_for_class(x509.SubjectAlternativeName)
            .value.get_values_for_type(x509.UniformResourceIdentifier)
        )
        if found is None:
            raise ConfigError(f"{CERT_VAR}: the certificate names no Stratos role and process")
        return found


def peer_identity(context: grpc.aio.ServicerContext) -> PeerIdentity | None:
    """The role and name the caller's verified certificate names (gRPC checked it against the
    mesh CA during the handshake); None when the call did not come over mutual TLS."""
    auth = context.auth_context()
    return _identity_of(u.decode("utf-8", "replace") for u in auth.get("peer_uri", ()))


def is_service(peer: PeerIdentity | None) -> bool:
    """The peer holds a service's certificate (not the client role anyone may be given)."""
    return peer is not None and peer.role != "client"


def _identity_of(uris) -> PeerIdentity | None:
    found = [p for p in map(parse_identity_uri, uris) if p is not None]
    return PeerIdentity(*found[0]) if len(found) == 1 else None


def _read(variable: str, path: str | Path) -> bytes:
    if not str(path):
        raise ConfigError(
            f"{variable} is not set; it names a PEM file of the mesh's TLS credentials",
            variables=[variable],
        )
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{variable}: cannot read {path}: {exc.strerror or exc}", variables=[variable]
        ) from None


def _key_matches(cert_pem: bytes, key_pem: bytes) -> bool:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return False
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    cert_key = x509.load_pem_x509_certificate(cert_pem).public_key()
    return key.public_key().public_bytes(*public) == cert_key.public_bytes(*public)


def from_settings(settings) -> MeshTLS:
    """The credentials a service's settings (`ServiceSettings.tls_*_file`) name."""
    return MeshTLS.from_files(settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file)
