"""ed25519 identities: created on first start, kept in a 0600 PEM file, used to sign manifests,
deletes and (later) votes and receipts.

Keys are kept and stored with `cryptography`; signatures are made and checked with libsodium
(PyNaCl, already here for NATS's nkeys): on this machine it verifies in 75 µs where OpenSSL
took 146, and signs in 29 where OpenSSL took 45 — and a get checks four signatures, a put more.
ed25519 signatures are deterministic, so both libraries make the same bytes.

Both are imported where a key is used, not here: `cryptography` costs ~0.1 s, and the CLI
imports this module (for addresses) in commands that never touch a key."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from blake3 import blake3

from stratos.common.errors import ConfigError
from stratos.common.files import write_atomic

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from nacl.signing import SigningKey


@dataclass(frozen=True)
class Identity:
    private_key: Ed25519PrivateKey

    @cached_property
    def public_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes_raw()

    @cached_property
    def _signer(self) -> SigningKey:
        from nacl.signing import SigningKey

        return SigningKey(self.private_key.private_bytes_raw())

    def sign(self, message: bytes) -> bytes:
        return self._signer.sign(message).signature

    @classmethod
    def generate(cls) -> Identity:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate())


def address_of(public_key: bytes) -> str:
    """The address of an identity (accounts, validators): hex of the first 20 bytes of the
    BLAKE3 of its raw ed25519 public key."""
    return blake3(public_key).digest()[:20].hex()


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """True when `signature` is a valid ed25519 signature of `message` by `public_key`."""
    from nacl.exceptions import CryptoError
    from nacl.signing import VerifyKey

    try:
        VerifyKey(bytes(public_key)).verify(bytes(message), bytes(signature))
    except (CryptoError, TypeError):  # a forged signature, or a key or signature of bad length
        return False
    return True


def load_or_create(path: Path) -> Identity:
    """Load the identity at `path`, creating it (mode 0600) on first start."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError:
            raise ConfigError(f"the identity file {path} is not a valid ed25519 key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"the identity file {path} does not hold an ed25519 key")
        return Identity(key)
    ident = Identity.generate()
    pem = ident.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_atomic(path, pem, mode=0o600)
    return ident


def load_admitted(identity_file: str, node_id: str, service: str) -> Identity:
    """A service's admitted key (STRATOS_IDENTITY_FILE): it must exist — the launcher or the
    operator made it and admitted its public half as `node_id`; a key made here would be
    admitted by nobody."""
    path = Path(identity_file)
    if not identity_file or not path.is_file():
        raise ConfigError(
            f"the {service} needs its identity key: set STRATOS_IDENTITY_FILE to the PEM file "
            f"whose public key the admission list gives {node_id}"
            + (f" ({path} does not exist)" if identity_file else "")
        )
    try:
        return load_or_create(path)
    except OSError as err:
        raise ConfigError(f"cannot read {path} (STRATOS_IDENTITY_FILE): {err.strerror}") from None
