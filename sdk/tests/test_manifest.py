"""Manifests: layout arithmetic, sign/verify, and every tampering is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratos.common.errors import DataLoss, InvalidArgument, PermissionDenied
from stratos.common.hashing import chunk_id
from stratos.common.identity import Identity, verify
from stratos.common.manifests import DELETE_DOMAIN, MANIFEST_DOMAIN
from stratos.sdk.manifest import (
    build_manifest,
    delete_message,
    delete_request,
    layout_problem,
    segment_layout,
    segment_record,
    sign_manifest,
    summarize,
    verify_manifest,
)
from stratos.v1 import types_pb2

FILE_ID = "00112233445566778899aabbccddeeff"


def _manifest(size: int = 10, segment_size: int = 4, file_id: str = FILE_ID) -> types_pb2.Manifest:
    segs = [
        segment_record(s.index, chunk_id(bytes([s.index])), s.length, ["n1", "n2"])
        for s in segment_layout(size, segment_size)
    ]
    return build_manifest(
        file_id=file_id,
        name="a.txt",
        key=bytes(32),
        size=size,
        segment_size=segment_size,
        replicas=2,
        segments=list(reversed(segs)),
        created_unix_ms=1,
    )


@given(size=st.integers(0, 10_000), segment_size=st.integers(1, 999))
def test_layout_covers_the_file_exactly(size: int, segment_size: int) -> None:
    spans = segment_layout(size, segment_size)
    assert sum(s.length for s in spans) == size
    assert all(0 < s.length <= segment_size for s in spans)
    assert [s.index for s in spans] == list(range(len(spans)))
    assert all(s.offset == s.index * segment_size for s in spans)


def test_layout_edges() -> None:
    assert segment_layout(0, 4) == []
    assert [s.length for s in segment_layout(4, 4)] == [4]
    assert [s.length for s in segment_layout(5, 4)] == [4, 1]
    with pytest.raises(InvalidArgument, match="segment size"):
        segment_layout(10, 0)


def test_build_sorts_segments_and_records_sizes() -> None:
    m = _manifest()
    assert [s.index for s in m.segments] == [0, 1, 2]
    assert [s.stored_size for s in m.segments] == [20, 20, 18]
    assert m.cipher == types_pb2.CIPHER_AES_256_GCM
    assert layout_problem(m) is None


def test_sign_then_verify() -> None:
    ident = Identity.generate()
    m = _manifest()
    signed = sign_manifest(m, ident)
    assert verify(ident.public_bytes, signed.signature, MANIFEST_DOMAIN + signed.manifest)
    assert verify_manifest(signed, FILE_ID) == m
    assert verify_manifest(signed, FILE_ID, expected_owner=ident.public_bytes) == m
    s = summarize(signed, m)
    assert (s.file_id, s.size, s.segments, s.owner_public_key) == (
        FILE_ID,
        10,
        3,
        ident.public_bytes,
    )


def test_tampered_manifest_bytes_are_data_loss() -> None:
    signed = sign_manifest(_manifest(), Identity.generate())
    m = types_pb2.Manifest.FromString(signed.manifest)
    m.size = 11
    signed.manifest = m.SerializeToString()
    with pytest.raises(DataLoss, match="invalid owner signature"):
        verify_manifest(signed, FILE_ID)


def test_manifest_resigned_by_someone_else_is_detected() -> None:
    owner, other = Identity.generate(), Identity.generate()
    signed = sign_manifest(_manifest(), other)
    with pytest.raises(PermissionDenied, match="another owner"):
        verify_manifest(signed, FILE_ID, expected_owner=owner.public_bytes)


def test_wrong_file_is_data_loss() -> None:
    signed = sign_manifest(_manifest(file_id="f" * 32), Identity.generate())
    with pytest.raises(DataLoss, match="when asked for"):
        verify_manifest(signed, FILE_ID)


def test_signature_does_not_cover_other_purposes() -> None:
    ident = Identity.generate()
    signed = sign_manifest(_manifest(), ident)
    assert not verify(ident.public_bytes, signed.signature, signed.manifest)


def test_inconsistent_layout_is_data_loss_even_when_signed() -> None:
    m = _manifest()
    del m.segments[1]
    with pytest.raises(DataLoss, match="2 segments where 3 are needed"):
        verify_manifest(sign_manifest(m, Identity.generate()), FILE_ID)


def test_layout_problems_are_named() -> None:
    m = _manifest()
    m.segments[2].plain_size = 3
    assert "wrong size" in layout_problem(m)
    m = _manifest()
    m.segments[0].chunk_id = "xyz"
    assert "invalid chunk ID" in layout_problem(m)
    m = _manifest()
    del m.segments[0].node_ids[:]
    assert "names no nodes" in layout_problem(m)
    m = _manifest()
    m.cipher = types_pb2.CIPHER_UNSPECIFIED
    assert "cipher" in layout_problem(m)


def test_empty_file_has_no_segments_and_verifies() -> None:
    m = _manifest(size=0)
    assert len(m.segments) == 0
    assert verify_manifest(sign_manifest(m, Identity.generate()), FILE_ID) == m


def test_delete_signature_format() -> None:
    ident = Identity.generate()
    assert delete_message(FILE_ID, 1234) == DELETE_DOMAIN + FILE_ID.encode() + b"\x001234"
    req = delete_request(FILE_ID, ident, unix_ms=1234)
    assert req.file_id == FILE_ID and req.unix_ms == 1234
    assert req.owner_public_key == ident.public_bytes
    assert verify(
        ident.public_bytes,
        req.signature,
        b"stratos.delete.v1\x00" + FILE_ID.encode() + b"\x00" + b"1234",
    )
