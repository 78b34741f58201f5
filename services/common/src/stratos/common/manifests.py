"""The manifest wire rules that writers (the SDK) and the index both follow: what an owner signs
to commit or delete a file, and the summary a listing shows. Kept here so the two sides cannot
drift apart (the SDK may not import a service).

A summary carries no name: the index cannot read one (`sealed_metadata`). It passes the sealed
block on as the owner signed it, for a caller holding the file's key to open."""

from __future__ import annotations

from stratos.v1 import types_pb2

MANIFEST_DOMAIN = b"stratos.manifest.v1\x00"
DELETE_DOMAIN = b"stratos.delete.v1\x00"


def manifest_message(manifest: bytes) -> bytes:
    """What the owner signs to commit a file: MANIFEST_DOMAIN || the serialized manifest."""
    return MANIFEST_DOMAIN + manifest


def delete_message(file_id: str, unix_ms: int) -> bytes:
    """What the owner signs to delete a file: DELETE_DOMAIN || file_id || NUL || str(unix_ms)."""
    return DELETE_DOMAIN + file_id.encode() + b"\x00" + str(unix_ms).encode()


def file_summary(m: types_pb2.Manifest, owner_public_key: bytes) -> types_pb2.FileSummary:
    """The FileSummary listed for a committed manifest."""
    return types_pb2.FileSummary(
        file_id=m.file_id,
        size=m.size,
        replicas=m.replicas,
        segments=len(m.segments),
        created_unix_ms=m.created_unix_ms,
        owner_public_key=owner_public_key,
        expires_unix_ms=m.expires_unix_ms,
        erasure=m.erasure if m.HasField("erasure") else None,
        metadata=m.metadata if m.HasField("metadata") else None,
    )
