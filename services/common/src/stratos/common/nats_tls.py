"""TLS for NATS: the server's certificate files, its `tls {}` blocks (client port and cluster
routes), and the client's SSL context.

nats-server takes a CA, a certificate and a key as files; `NatsTlsFiles` is those three paths,
so the mesh's one CA (issue 11 part 4 builds it for gRPC) can be pointed at by both. Until that
CA is merged, `make_tls_files` makes a small one of its own where no CA is given: a P-256 CA
(Go's TLS and Python's ssl both take it) and a server certificate for the given host
names and addresses, usable for client connections and for the routes between servers (which
verify each other with the same CA). Keys are 0600 in a 0700 directory.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stratos.common import mesh_ca
from stratos.common.errors import ConfigError
from stratos.common.files import private_dir, write_atomic

VALIDITY = datetime.timedelta(days=825)  # the longest validity clients still accept for servers


@dataclass(frozen=True)
class NatsTlsFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _make_ca(directory: Path) -> tuple[Path, Path]:
    """A NATS-only CA, for a server that is given none (the test harness): the mesh CA's kind."""
    ca = mesh_ca.new_authority("stratos nats ca")
    ca_file, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    write_atomic(ca_key, ca.key_pem, mode=0o600)
    write_atomic(ca_file, ca.cert_pem, mode=0o600)
    return ca_file, ca_key


def make_tls_files(
    directory: Path,
    hosts: list[str],
    *,
    ca_file: Path | None = None,
    ca_key_file: Path | None = None,
) -> NatsTlsFiles:
    """A server certificate for `hosts` (names and IP addresses) signed by the given CA, or by
    a CA made here when none is given (kept, so later calls reuse it). Both server and client
    auth are allowed: routes present the same certificate to each other."""
    private_dir(directory)
    if ca_file is None or ca_key_file is None:
        ca_file, ca_key_file = directory / "ca.pem", directory / "ca-key.pem"
        if not (ca_file.exists() and ca_key_file.exists()):
            ca_file, ca_key_file = _make_ca(directory)
    ca_cert = x509.load_pem_x509_certificate(ca_file.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_file.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_san(hosts), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_file, key_file = directory / "server.pem", directory / "server-key.pem"
    write_atomic(key_file, _key_pem(key), mode=0o600)
    write_atomic(cert_file, cert.public_bytes(serialization.Encoding.PEM), mode=0o600)
    return NatsTlsFiles(ca_file=ca_file, cert_file=cert_file, key_file=key_file)


def tls_block(
    files: NatsTlsFiles, *, verify: bool = False, known_urls: bool = False, indent: str = ""
) -> str:
    """nats-server's `tls { ... }`: with it on the client port every client must speak TLS
    (no `allow_non_tls`); `verify` makes the peer show a certificate from the CA (routes);
    `known_urls` (routes) also wants that certificate to name one of the configured routes, so
    a certificate the same CA gave anyone else does not make a route."""
    lines = [
        "tls {",
        f"  cert_file: {json.dumps(str(files.cert_file))}",
        f"  key_file: {json.dumps(str(files.key_file))}",
        f"  ca_file: {json.dumps(str(files.ca_file))}",
        "  timeout: 5",
    ]
    if verify or known_urls:
        lines.append("  verify: true")
    if known_urls:
        lines.append("  verify_cert_and_check_known_urls: true")
    lines.append("}")
    return "".join(f"{indent}{line}\n" for line in lines)


def client_context(ca_file: Path | str | None, variable: str = "STRATOS_NATS_TLS_CA_FILE"):
    """The SSL context a process verifies its NATS server with: the mesh's CA when given, the
    system's trust store otherwise."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"{variable}: cannot use {ca_file} as the NATS CA: "
            f"{getattr(exc, 'strerror', None) or exc}",
            variables=[variable],
        ) from None
