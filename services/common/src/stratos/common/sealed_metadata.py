"""A file's name and user metadata, sealed inside its manifest (issue 11, part 6).

The index, NATS and every storage node handle manifests; none of them may learn what a file is
called. The writer seals a `FileMetadata` (types.proto) with the file key, so only a holder of
the file's capability (`stratos://<id>#<key>`) can open it:

    key        = HKDF-SHA256(file key, no salt, info "stratos.metadata.v1\\0key"), 32 bytes
    nonce      = 12 random bytes, fresh for every seal
    aad        = "stratos.metadata.v1\\0" || file_id
    plaintext  = serialized FileMetadata || 0x80 || zero bytes, to a multiple of 64 bytes
    ciphertext = AES-256-GCM(key, nonce, aad, plaintext), its 16-byte tag appended

Why: segments are encrypted under the file key itself with counter nonces (`stratos.sdk.crypto`),
so a random nonce under that key could meet one of them; the derived key never does. The AAD
binds the sealed block to its file, so it cannot be moved into another manifest unnoticed. The
padding hides a name's length but for its 64-byte bucket.

Both sides use this module: the SDK seals and opens; the index, which holds no key, checks only
the shape (`shape_problem`). Opening refuses a wrong key, altered bytes or garbage with one
sentence, never a traceback. Pure functions, no I/O.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from google.protobuf.message import DecodeError

from stratos.common.errors import DataLoss, InvalidArgument
from stratos.common.limits import MAX_NAME_CHARS
from stratos.v1 import types_pb2

VERSION = 1
DOMAIN = b"stratos.metadata.v1\x00"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
PAD_BYTES = 64
_PAD_MARK = 0x80


def _padded(n: int) -> int:
    """Bytes of a plaintext of `n` bytes once padded (the mark always takes one)."""
    return (n // PAD_BYTES + 1) * PAD_BYTES


MAX_CIPHERTEXT_BYTES = (
    _padded(types_pb2.FileMetadata(name="\U0010ffff" * MAX_NAME_CHARS).ByteSize()) + TAG_BYTES
)
"""The largest ciphertext a FileMetadata within the limits seals to (a name of four-byte
characters): what the index accepts, and what the manifest size limits count."""


def widest() -> types_pb2.SealedMetadata:
    """A sealed block of the largest size accepted, for counting a manifest's worst case."""
    return types_pb2.SealedMetadata(
        version=VERSION, nonce=bytes(NONCE_BYTES), ciphertext=bytes(MAX_CIPHERTEXT_BYTES)
    )


def check_name(name: str) -> str:
    """`name` when a manifest may carry it, else the sentence why not."""
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise InvalidArgument(f"a file name must be 1 to {MAX_NAME_CHARS} characters")
    return name


def metadata_key(file_key: bytes) -> bytes:
    """The key that seals a file's metadata, derived from its file key."""
    if len(file_key) != KEY_BYTES:
        raise InvalidArgument(f"a file key must be {KEY_BYTES} bytes, not {len(file_key)}")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=DOMAIN + b"key")
    return hkdf.derive(file_key)


def _aad(file_id: str) -> bytes:
    return DOMAIN + file_id.encode("utf-8", "surrogatepass")


def seal(
    file_key: bytes, file_id: str, metadata: types_pb2.FileMetadata
) -> types_pb2.SealedMetadata:
    """`metadata` sealed for the manifest of `file_id`, under a fresh nonce."""
    check_name(metadata.name)
    plain = metadata.SerializeToString(deterministic=True)
    padded = plain + bytes([_PAD_MARK]) + bytes(_padded(len(plain)) - len(plain) - 1)
    nonce = secrets.token_bytes(NONCE_BYTES)
    ciphertext = AESGCM(metadata_key(file_key)).encrypt(nonce, padded, _aad(file_id))
    return types_pb2.SealedMetadata(version=VERSION, nonce=nonce, ciphertext=ciphertext)


def shape_problem(sealed: types_pb2.SealedMetadata) -> str | None:
    """Why `sealed` cannot be a block this module made, or None — checked without a key."""
    if sealed.version != VERSION:
        return f"its version is {sealed.version}; this software reads version {VERSION}"
    if len(sealed.nonce) != NONCE_BYTES:
        return f"its nonce is {len(sealed.nonce)} bytes, not {NONCE_BYTES}"
    size = len(sealed.ciphertext)
    if not PAD_BYTES + TAG_BYTES <= size <= MAX_CIPHERTEXT_BYTES or size % PAD_BYTES != TAG_BYTES:
        return (
            f"its ciphertext is {size} bytes; a sealed name is a multiple of {PAD_BYTES} bytes "
            f"plus a {TAG_BYTES}-byte tag, at most {MAX_CIPHERTEXT_BYTES}"
        )
    return None


def open_sealed(
    file_key: bytes, file_id: str, sealed: types_pb2.SealedMetadata
) -> types_pb2.FileMetadata:
    """The metadata inside `sealed`; DataLoss, one sentence, when the key is not the file's,
    the bytes were altered or they are not a sealed block at all."""

    def refused(why: str) -> DataLoss:
        return DataLoss(f"the name of file {file_id} cannot be read: {why}")

    if problem := shape_problem(sealed):
        raise refused(problem)
    try:
        padded = AESGCM(metadata_key(file_key)).decrypt(
            sealed.nonce, sealed.ciphertext, _aad(file_id)
        )
    except InvalidTag:
        raise refused("the key is not this file's, or the sealed bytes were altered") from None
    plain = padded.rstrip(b"\x00")
    if not plain or plain[-1] != _PAD_MARK:
        raise refused("its padding is malformed")
    metadata = types_pb2.FileMetadata()
    try:
        metadata.ParseFromString(plain[:-1])
    except DecodeError:
        raise refused("it does not hold a FileMetadata record") from None
    if not 1 <= len(metadata.name) <= MAX_NAME_CHARS:
        raise refused(f"its name is not 1 to {MAX_NAME_CHARS} characters")
    return metadata
