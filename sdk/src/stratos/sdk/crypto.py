"""Segment encryption: AES-256-GCM under a per-file key, exactly as `Cipher.CIPHER_AES_256_GCM`
in types.proto defines it.

Storage nodes only ever see what this module produces. The nonce is derived from the segment
index (one key per file, so every (key, nonce) pair is used once) and the AAD binds each segment
to its file and position, so a node cannot swap segments between files or reorder them without
decryption failing. Pure functions, no I/O.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from stratos.common.errors import DataLoss, InvalidArgument

KEY_BYTES = 32
TAG_BYTES = 16
MAX_SEGMENT_INDEX = 2**32 - 1  # the AAD carries the index as a u32


def new_file_key() -> bytes:
    """A fresh random 256-bit key for one file."""
    return secrets.token_bytes(KEY_BYTES)


def segment_nonce(index: int) -> bytes:
    """4 zero bytes || u64 big-endian segment index (12 bytes)."""
    return b"\x00\x00\x00\x00" + index.to_bytes(8, "big")


def segment_aad(file_id: str, index: int) -> bytes:
    """file_id (ascii) || u32 big-endian segment index."""
    return file_id.encode("ascii") + index.to_bytes(4, "big")


def stored_size(plain_size: int) -> int:
    """Bytes a node stores for a segment of `plain_size` plaintext bytes."""
    return plain_size + TAG_BYTES


def _cipher(key: bytes, index: int) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise InvalidArgument(f"a file key must be {KEY_BYTES} bytes, not {len(key)}")
    if not 0 <= index <= MAX_SEGMENT_INDEX:
        raise InvalidArgument(f"segment index {index} is out of range")
    return AESGCM(key)


def encrypt_segment(key: bytes, file_id: str, index: int, plaintext: bytes) -> bytes:
    """The stored chunk for one segment: ciphertext || 16-byte tag."""
    return _cipher(key, index).encrypt(segment_nonce(index), plaintext, segment_aad(file_id, index))


def decrypt_segment(key: bytes, file_id: str, index: int, stored: bytes) -> bytes:
    """The plaintext of one segment; DataLoss when the key, position or bytes are wrong."""
    cipher = _cipher(key, index)
    try:
        return cipher.decrypt(segment_nonce(index), stored, segment_aad(file_id, index))
    except InvalidTag:
        raise DataLoss(
            f"segment {index} of file {file_id} does not decrypt; "
            "the key is wrong or the stored bytes were altered"
        ) from None
