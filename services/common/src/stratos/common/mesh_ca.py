"""The mesh's certificate authority: one ECDSA P-256 CA per mesh, and a certificate per process.

Every gRPC connection in a mesh is mutual TLS against this CA (`stratos.common.tls`): a server
proves it is the mesh's, and the caller proves its role. A certificate names its holder in a
URI SAN, `stratos://mesh/<role>/<name>` (role: storage, index, consensus, operator, client),
which a server reads from the verified peer (`tls.peer_identity`). P-256 because BoringSSL in
grpcio accepts it everywhere (ed25519 certificates are not accepted by every TLS stack).

The pure part (`new_authority`, `issue`) takes the clock as an argument; `ensure_authority` and
`ensure_certificate` keep them as files, keys 0600 in 0700 directories, made once and reused while
they are still from the same CA, valid for another `RENEW_BEFORE` and name what is asked.

`cryptography` is imported where it is used: the CLI imports this module's callers on every
command and most never make a certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stratos.common.errors import ConfigError
from stratos.common.files import private_dir, write_atomic

ROLES = ("storage", "index", "consensus", "incentive", "operator", "client")
URI_PREFIX = "stratos://mesh/"
CA_VALID = dt.timedelta(days=3650)
CERT_VALID = dt.timedelta(days=397)
RENEW_BEFORE = dt.timedelta(days=30)
CLOCK_SKEW = dt.timedelta(minutes=5)  # a certificate is valid a little before it was made
DEFAULT_DNS = ("localhost",)
DEFAULT_IPS = ("127.0.0.1",)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class CertFiles:
    """Where a process's credentials are: what STRATOS_TLS_{CA,CERT,KEY}_FILE point at."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def env(self) -> dict[str, str]:
        return {
            "STRATOS_TLS_CA_FILE": str(self.ca_file),
            "STRATOS_TLS_CERT_FILE": str(self.cert_file),
            "STRATOS_TLS_KEY_FILE": str(self.key_file),
        }


def identity_uri(role: str, name: str) -> str:
    """The URI SAN naming `name` in `role`."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not name or "/" in name:
        raise ValueError(f"a process name must be non-empty without '/': {name!r}")
    return f"{URI_PREFIX}{role}/{name}"


def parse_identity_uri(uri: str) -> tuple[str, str] | None:
    """(role, name) from a URI SAN this module wrote, None for anything else."""
    if not uri.startswith(URI_PREFIX):
        return None
    role, _, name = uri[len(URI_PREFIX) :].partition("/")
    if role not in ROLES or not name or "/" in name:
        return None
    return role, name


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def new_authority(
    name: str = "Stratos mesh CA", *, now: dt.datetime | None = None, valid: dt.timedelta = CA_VALID
) -> Issued:
    """A fresh self-signed CA that may sign end-entity certificates only (path length 0)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    start = _now(now)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - CLOCK_SKEW)
        .not_valid_after(start + valid)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue(
    ca: Issued,
    role: str,
    name: str,
    *,
    dns_names: Iterable[str] = DEFAULT_DNS,
    ip_addresses: Iterable[str] = DEFAULT_IPS,
    now: dt.datetime | None = None,
    valid: dt.timedelta = CERT_VALID,
) -> Issued:
    """A certificate for process `name` in `role`, signed by `ca`, good as a TLS server and as a
    TLS client, naming the addresses it is reached at (`dns_names`, `ip_addresses`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    start = _now(now)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity_uri(role, name))]
    sans += [x509.DNSName(d) for d in dict.fromkeys(dns_names)]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in dict.fromkeys(ip_addresses)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - CLOCK_SKEW)
        .not_valid_after(min(start + valid, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def problem_with(cert_pem: bytes, ca_pem: bytes, *, now: dt.datetime | None = None) -> str | None:
    """Why `cert_pem` is not a valid certificate from the CA `ca_pem` now (None when it is)."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError:
        return "is not a PEM certificate"
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return "was not issued by the mesh CA"
    at = _now(now)
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return f"is not valid now (valid {cert.not_valid_before_utc} to {cert.not_valid_after_utc})"
    return None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def ensure_authority(directory: Path, *, now: dt.datetime | None = None) -> Issued:
    """The CA kept in `directory` (ca.pem, ca.key), made on first use. A CA that has expired or
    whose files are damaged is refused, not silently replaced: every certificate and every
    client that trusts it would be cut off."""
    private_dir(directory)
    cert, key = _read(directory / "ca.pem"), _read(directory / "ca.key")
    if cert is None and key is None:
        ca = new_authority(now=now)
        write_atomic(directory / "ca.key", ca.key_pem)
        write_atomic(directory / "ca.pem", ca.cert_pem)
        return ca
    if cert is None or key is None:
        raise ConfigError(
            f"the mesh CA in {directory} is incomplete (ca.pem and ca.key go together)"
        )
    if problem := problem_with(cert, cert, now=now):
        raise ConfigError(f"the mesh CA {directory / 'ca.pem'} {problem}")
    return Issued(cert, key)


def ensure_certificate(
    directory: Path,
    ca: Issued,
    role: str,
    name: str,
    *,
    dns_names: Iterable[str] = DEFAULT_DNS,
    ip_addresses: Iterable[str] = DEFAULT_IPS,
    now: dt.datetime | None = None,
) -> CertFiles:
    """`name`'s certificate and key in `directory` (<name>.pem, <name>.key), with the CA beside
    them as ca.pem: reused while it is from `ca`, names `role`/`name` and every address asked
    for, and is valid for another `RENEW_BEFORE`; issued afresh otherwise."""
    dns_names, ip_addresses = tuple(dns_names), tuple(ip_addresses)
    private_dir(directory)
    files = CertFiles(directory / "ca.pem", directory / f"{name}.pem", directory / f"{name}.key")
    if _read(files.ca_file) != ca.cert_pem:
        write_atomic(files.ca_file, ca.cert_pem)
    cert, key = _read(files.cert_file), _read(files.key_file)
    later = _now(now) + RENEW_BEFORE
    if (
        cert is None
        or key is None
        or problem_with(cert, ca.cert_pem, now=later) is not None
        or not names_match(cert, identity_uri(role, name), dns_names, ip_addresses)
    ):
        fresh = issue(ca, role, name, dns_names=dns_names, ip_addresses=ip_addresses, now=now)
        write_atomic(files.key_file, fresh.key_pem)
        write_atomic(files.cert_file, fresh.cert_pem)
    return files


def names_match(cert_pem: bytes, uri: str, dns_names: Iterable[str], ips: Iterable[str]) -> bool:
    """The certificate names exactly `uri` and at least `dns_names` and `ips`."""
    from cryptography import x509

    try:
        sans = (
            x509.load_pem_x509_certificate(cert_pem)
            .extensions.get_extension_for_class(x509.SubjectAlternativeName)
            .value
        )
    except (ValueError, x509.ExtensionNotFound):
        return False
    have_ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    return (
        sans.get_values_for_type(x509.UniformResourceIdentifier) == [uri]
        and set(dns_names) <= set(sans.get_values_for_type(x509.DNSName))
        and {str(ipaddress.ip_address(ip)) for ip in ips} <= have_ips
    )
