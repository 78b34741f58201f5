"""The segment bounds and the segment-count bound of a manifest: the count is derived from the
encoded size of a worst-case entry, so a manifest built at the bound must fit one NATS message —
checked here by building and serializing it, not by trusting the arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratos.common import sealed_metadata
from stratos.common.errors import InvalidArgument
from stratos.common.limits import (
    GRPC_MAX_MESSAGE_BYTES,
    MAX_CHUNK_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_NAME_CHARS,
    MAX_NODE_ID_CHARS,
    MAX_SEGMENT_BYTES,
    MIN_SEGMENT_BYTES,
    NATS_MAX_PAYLOAD_BYTES,
)
from stratos.common.segment_limits import (
    check_manifest_bytes,
    check_segment_count,
    check_segment_size,
    fitting_segment_size,
    format_bytes,
    max_segments,
)
from stratos.v1 import types_pb2

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


def worst_manifest(n: int, replicas: int, code: tuple[int, int] | None) -> bytes:
    """A signed manifest of `n` segments with every field at its widest."""
    node = "n" * MAX_NODE_ID_CHARS
    segments = []
    for _ in range(n):
        seg = types_pb2.Segment(
            index=2**32 - 1, plain_size=MAX_SEGMENT_BYTES, stored_size=MAX_CHUNK_BYTES
        )
        if code is None:
            seg.chunk_id = "f" * 64
            seg.node_ids.extend([node] * replicas)
        else:
            for _ in range(sum(code)):
                seg.shares.add(
                    index=2**32 - 1, chunk_id="f" * 64, size=MAX_CHUNK_BYTES, node_ids=[node]
                )
        segments.append(seg)
    manifest = types_pb2.Manifest(
        file_id="f" * 32,
        metadata=sealed_metadata.seal(
            bytes(32), "f" * 32, types_pb2.FileMetadata(name="\U0010ffff" * MAX_NAME_CHARS)
        ),
        size=2**64 - 1,
        segment_size=2**32 - 1,
        replicas=2**32 - 1,
        cipher=types_pb2.CIPHER_AES_256_GCM,
        created_unix_ms=-1,
        expires_unix_ms=-1,
        erasure=types_pb2.ErasureCode(data_shares=2**32 - 1, parity_shares=2**32 - 1),
        segments=segments,
    )
    signed = types_pb2.SignedManifest(
        manifest=manifest.SerializeToString(), owner_public_key=bytes(32), signature=bytes(64)
    )
    return signed.SerializeToString()


@settings(max_examples=6, deadline=None)
@given(
    layout=st.one_of(
        st.integers(1, 16).map(lambda r: (r, None)),
        st.tuples(st.integers(1, 16), st.integers(1, 16)).map(lambda c: (1, c)),
    )
)
def test_a_manifest_at_the_segment_bound_fits_and_one_more_segment_does_not(layout) -> None:
    replicas, code = layout
    n = max_segments(replicas, code)
    assert len(worst_manifest(n, replicas, code)) <= MAX_MANIFEST_BYTES
    assert len(worst_manifest(n + 1, replicas, code)) > MAX_MANIFEST_BYTES  # the bound is tight


def test_the_manifest_limit_leaves_room_for_its_locations_in_nats_and_grpc() -> None:
    """Locations name the same chunks again with one more holder at most (~1.5x the bytes);
    GetManifest answers with both in one gRPC message."""
    assert MAX_MANIFEST_BYTES * 5 // 2 <= NATS_MAX_PAYLOAD_BYTES + MAX_MANIFEST_BYTES
    assert MAX_MANIFEST_BYTES * 5 // 2 < GRPC_MAX_MESSAGE_BYTES


def test_the_bounds_a_user_meets_are_what_the_docs_say() -> None:
    # 3 copies, the default: ~14.8k segments, so ~58 GiB in 4 MiB segments and ~926 GiB in 64 MiB
    assert 14_000 < max_segments(3) < 15_000
    assert 4_000 < max_segments(1, (4, 2)) < 5_000


@pytest.mark.parametrize("size", [0, 1, MIN_SEGMENT_BYTES - 1, MAX_SEGMENT_BYTES + 1, 1 << 40])
def test_a_segment_size_out_of_bounds_is_one_sentence_naming_them(size: int) -> None:
    with pytest.raises(InvalidArgument) as info:
        check_segment_size(size)
    assert "between 64 KiB and 64 MiB" in info.value.message
    assert "\n" not in info.value.message


@pytest.mark.parametrize("size", [MIN_SEGMENT_BYTES, 4 * MIB, MAX_SEGMENT_BYTES])
def test_a_segment_size_within_bounds_is_accepted(size: int) -> None:
    assert check_segment_size(size) == size


def test_too_many_segments_is_refused_with_the_limit_and_a_size_that_fits() -> None:
    with pytest.raises(InvalidArgument) as info:
        check_segment_count(100 * GIB, 64 * KIB, 3)
    msg = info.value.message
    assert "a 100 GiB file in 64 KiB segments needs 1638400 segments" in msg
    assert f"at most {max_segments(3)} segments with 3 copies" in msg
    assert "use a segment size of at least 8 MiB" in msg
    check_segment_count(100 * GIB, 8 * MIB, 3)  # and that size does fit


def test_the_preferred_segment_size_grows_until_the_file_fits() -> None:
    assert fitting_segment_size(GIB, 4 * MIB, 3) == 4 * MIB
    assert fitting_segment_size(100 * GIB, 4 * MIB, 3) == 8 * MIB
    assert fitting_segment_size(10 * GIB, 1, 3) == MIN_SEGMENT_BYTES * 16  # clamped, then grown
    with pytest.raises(InvalidArgument, match="too large for one manifest"):
        fitting_segment_size(2 << 40, 4 * MIB, 3)


def test_a_signed_manifest_over_the_limit_is_refused_naming_it() -> None:
    check_manifest_bytes(MAX_MANIFEST_BYTES)
    with pytest.raises(InvalidArgument, match="at most 4 MiB"):
        check_manifest_bytes(MAX_MANIFEST_BYTES + 1)


def test_sizes_read_as_a_person_writes_them() -> None:
    assert [format_bytes(n) for n in (1, 512, 64 * KIB, 3 * MIB // 2, 2 * GIB, 5 << 40)] == [
        "1 byte",
        "512 B",
        "64 KiB",
        "1.5 MiB",
        "2 GiB",
        "5 TiB",
    ]


def test_a_strangers_redundancy_is_sized_by_counting_not_by_building_a_list() -> None:
    """replicas and k+m come from manifests anyone can sign: 2**32-1 copies must not allocate
    four billion node IDs (it once did, and CommitManifest answered INTERNAL)."""
    from stratos.common.segment_limits import max_segments, segment_entry_bytes

    assert max_segments(2**32 - 1) == 0
    assert max_segments(1, (2**32 - 1, 2**32 - 1)) == 0
    assert segment_entry_bytes(4) - segment_entry_bytes(3) == segment_entry_bytes(3) - (
        segment_entry_bytes(2)
    )
