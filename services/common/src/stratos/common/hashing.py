"""Chunk IDs: the hex BLAKE3-256 of the stored bytes."""

from __future__ import annotations

import re

from blake3 import blake3

CHUNK_ID_RE = re.compile(r"^[0-9a-f]{64}$")


def chunk_id(data: bytes) -> str:
    return blake3(data).hexdigest()


def new_hasher() -> blake3:
    return blake3()


def is_chunk_id(value: str) -> bool:
    return bool(CHUNK_ID_RE.match(value))
