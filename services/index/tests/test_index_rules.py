"""Pure decisions the index makes before touching NATS: which manifests and deletes are
acceptable, whether a write can be placed, and which settings the service can run with."""

from __future__ import annotations

import pytest
from index_support import SEGMENT, build_manifest, new_file_id, sign

from stratos.common.config import load_settings
from stratos.common.errors import ConfigError, FailedPrecondition, InvalidArgument, PermissionDenied
from stratos.common.identity import Identity
from stratos.common.limits import MAX_MANIFEST_BYTES, MAX_SEGMENT_BYTES
from stratos.common.segment_limits import max_segments
from stratos.index.config import IndexSettings
from stratos.index.manifest_rules import (
    check_file_id,
    delete_message,
    validate_manifest,
    verify_delete,
    verify_signed,
)
from stratos.index.planning import place_chunks, plan_write
from stratos.index.registry import Candidate

OWNER = Identity.generate()
NOW = 1_700_000_000_000
MIB = 1 << 20


def live(n: int, free: int = 100 * MIB) -> list[Candidate]:
    return [Candidate(f"n{i}", f"h:{i}", f"z{i}", free) for i in range(n)]


def test_a_correctly_signed_manifest_is_accepted() -> None:
    m = build_manifest(new_file_id())
    assert verify_signed(sign(OWNER, m)) == m


def test_a_tampered_manifest_is_refused() -> None:
    signed = sign(OWNER, build_manifest(new_file_id()))
    signed.manifest = signed.manifest[:-1] + bytes([signed.manifest[-1] ^ 1])
    with pytest.raises(PermissionDenied, match="signature"):
        verify_signed(signed)


def empty_last_segment(m) -> None:
    m.size -= m.segments[-1].plain_size
    m.segments[-1].plain_size, m.segments[-1].stored_size = 0, 16


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda m: setattr(m, "file_id", "ABC"), "is not a file ID"),
        (lambda m: setattr(m, "legacy_name", "holiday.jpg"), "file name in plaintext"),
        (lambda m: m.ClearField("metadata"), "no sealed metadata"),
        (lambda m: setattr(m.metadata, "version", 7), "sealed metadata is malformed: its version"),
        (lambda m: setattr(m.metadata, "nonce", b"1"), "sealed metadata is malformed: its nonce"),
        (lambda m: setattr(m.metadata, "ciphertext", b"x" * 81), "its ciphertext is 81 bytes"),
        (lambda m: setattr(m, "replicas", 0), "replica"),
        (lambda m: setattr(m, "size", m.size + 1), "segments hold"),
        (lambda m: setattr(m.segments[1], "index", 5), "numbered 0..n-1"),
        (lambda m: setattr(m.segments[0], "plain_size", 100), "every segment but the last"),
        (lambda m: setattr(m.segments[0], "stored_size", 4096), "plain_size \\+ 16"),
        (lambda m: setattr(m.segments[0], "chunk_id", "abc"), "chunk ID"),
        (lambda m: m.segments[2].ClearField("node_ids"), "names no storage node"),
        (lambda m: setattr(m, "cipher", 0), "AES-256-GCM"),
        (empty_last_segment, "the last segment must hold 1 to"),
        (lambda m: setattr(m, "created_unix_ms", 2**63 - 1), "created_unix_ms must be between"),
        (lambda m: setattr(m, "created_unix_ms", -1), "created_unix_ms must be between 0 and"),
        (lambda m: setattr(m, "expires_unix_ms", -(2**63)), "expires_unix_ms must be between"),
        (lambda m: setattr(m, "expires_unix_ms", 2**63 - 1), "expires_unix_ms must be between"),
    ],
)
def test_a_malformed_manifest_is_refused_with_a_sentence(breakage, message) -> None:
    m = build_manifest(new_file_id())
    breakage(m)
    with pytest.raises(InvalidArgument, match=message):
        validate_manifest(m)


@pytest.mark.parametrize(
    ("size", "segment_size"), [(2, 1), (2 * 4096, 4096), (100, MAX_SEGMENT_BYTES + 1)]
)
def test_a_segment_size_outside_the_bounds_is_refused_naming_them(size, segment_size) -> None:
    """The bounds the SDK checks before a put; a client that skips them must not get past."""
    m = build_manifest(new_file_id(), size=size, segment_size=segment_size)
    with pytest.raises(InvalidArgument, match="between 64 KiB and 64 MiB"):
        validate_manifest(m)


def test_more_segments_than_one_manifest_names_is_refused_naming_the_limit() -> None:
    n = max_segments(2) + 1
    m = build_manifest(new_file_id(), size=n * SEGMENT, segment_size=SEGMENT)
    with pytest.raises(InvalidArgument, match=f"at most {n - 1} segments with 2 copies"):
        validate_manifest(m)


def test_a_signed_manifest_larger_than_one_message_is_refused_before_anything_else() -> None:
    """Within the segment bound but padded (e.g. overlong node IDs): the bytes are the limit."""
    m = build_manifest(new_file_id(), nodes=("n" * (MAX_MANIFEST_BYTES // 2), "n2"))
    signed = sign(OWNER, m)
    signed.signature = bytes(64)  # refused for its size, so the signature is never looked at
    with pytest.raises(InvalidArgument, match="at most 4 MiB"):
        verify_signed(signed)


def test_an_empty_file_has_no_segments_and_is_valid() -> None:
    validate_manifest(build_manifest(new_file_id(), size=0))


def test_file_ids_must_be_32_lowercase_hex() -> None:
    assert check_file_id("0" * 32)
    for bad in ["", "0" * 31, "A" * 32, "../" + "0" * 29]:
        with pytest.raises(InvalidArgument, match="expected 32 hex characters"):
            check_file_id(bad)


def test_a_delete_must_be_signed_by_the_key_and_fresh() -> None:
    fid = new_file_id()
    sig = OWNER.sign(delete_message(fid, NOW))
    verify_delete(fid, NOW, OWNER.public_bytes, sig, NOW + 4 * 60_000)
    with pytest.raises(PermissionDenied, match="5 minutes"):
        verify_delete(fid, NOW, OWNER.public_bytes, sig, NOW + 6 * 60_000)
    with pytest.raises(PermissionDenied, match="signature"):
        verify_delete(fid, NOW + 1, OWNER.public_bytes, sig, NOW)


def test_plan_write_names_the_live_count_when_too_few() -> None:
    with pytest.raises(FailedPrecondition) as err:
        plan_write(3, 1000, 4 * MIB, live(2), 16)
    assert str(err.value) == "only 2 storage nodes are live; 3 replicas need at least 3"
    assert plan_write(3, 1000, 4 * MIB, live(3), 16) == 3


def test_plan_write_refuses_out_of_range_replicas_and_full_nodes() -> None:
    for replicas in (0, 17):
        with pytest.raises(InvalidArgument, match="between 1 and 16"):
            plan_write(replicas, 1, 4 * MIB, live(20), 16)
    with pytest.raises(FailedPrecondition, match="only 1 of 3 live storage nodes has room"):
        plan_write(2, 10 * MIB, 4 * MIB, [*live(1), *live(2, free=1000)], 16)
    with pytest.raises(FailedPrecondition, match="free"):
        plan_write(2, 1000 * MIB, 4 * MIB, live(3), 16)


def test_place_chunks_fails_naming_the_live_count_after_exclusions() -> None:
    cid = "ab" * 32
    with pytest.raises(FailedPrecondition, match="only 1 of 3 live storage nodes"):
        place_chunks([(cid, 10)], live(3), 2, 16, exclude=["n0", "n1"])
    with pytest.raises(InvalidArgument, match="not a chunk ID"):
        place_chunks([("nope", 10)], live(3), 2, 16)
    [(got, targets)] = place_chunks([(cid, 10)], live(3), 2, 16, extra=1)
    assert got == cid and len(targets) == 3


def test_settings_defaults_and_limits(monkeypatch) -> None:
    s = load_settings(IndexSettings)
    assert (s.suspect_after_s, s.lost_after_s, s.segment_size_bytes, s.max_replicas) == (
        6.0,
        30.0,
        4 * MIB,
        16,
    )
    monkeypatch.setenv("STRATOS_LOST_AFTER_S", "5")
    with pytest.raises(ConfigError, match=r"STRATOS_LOST_AFTER_S: .*greater than"):
        load_settings(IndexSettings)
    monkeypatch.delenv("STRATOS_LOST_AFTER_S")
    monkeypatch.setenv("STRATOS_SEGMENT_SIZE_BYTES", str(32 * 1024))
    with pytest.raises(ConfigError, match="STRATOS_SEGMENT_SIZE_BYTES"):
        load_settings(IndexSettings)
