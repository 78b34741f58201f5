"""The pure cleanup rules: what is expired, what is an orphan, which chunks of a removed file
stay because another file or an upload needs them, and when a late commit must be checked."""

from __future__ import annotations

import pytest
from index_support import build_manifest, new_file_id

from stratos.common.errors import InvalidArgument
from stratos.index import cleanup_rules as rules
from stratos.index.manifest_rules import check_not_expired
from stratos.index.repair_plan import DELETE, job_id
from stratos.v1 import types_pb2

NOW = 1_700_000_000_000
GRACE = 60_000


def copy(cid: str, age_ms: int) -> rules.ChunkCopy:
    return rules.ChunkCopy(cid, 10, NOW - age_ms)


def test_a_file_expires_at_its_instant_and_zero_means_never() -> None:
    assert not rules.is_expired(0, NOW)
    assert not rules.is_expired(NOW + 1, NOW)
    assert rules.is_expired(NOW, NOW)
    assert rules.is_expired(NOW - 1, NOW)
    assert rules.expired_message("ab" * 16, NOW) == (
        f"file {'ab' * 16} expired at 2023-11-14 22:13:20 UTC"
    )


def test_a_manifest_already_expired_at_commit_is_refused_with_one_sentence() -> None:
    m = build_manifest(new_file_id())
    m.expires_unix_ms = NOW - 1
    with pytest.raises(InvalidArgument, match="has already passed") as err:
        check_not_expired(m, NOW)
    assert "\n" not in str(err.value)
    m.expires_unix_ms = NOW + 1
    check_not_expired(m, NOW)
    m.expires_unix_ms = 0
    check_not_expired(m, NOW)


def test_an_orphan_is_unreferenced_unreserved_and_older_than_the_grace() -> None:
    listed = [
        copy("a" * 64, GRACE + 1),  # orphan
        copy("b" * 64, GRACE + 1),  # a manifest names it
        copy("c" * 64, GRACE + 1),  # reserved by an upload in flight
        copy("d" * 64, GRACE),  # exactly the grace old: still young
        copy("e" * 64, 5),  # an upload that stored it just now
    ]
    got = rules.orphans(listed, {"b" * 64}, {"c" * 64}, now_ms=NOW, grace_ms=GRACE)
    assert [c.chunk_id for c in got] == ["a" * 64]


def test_a_chunk_stored_before_the_manifest_store_existed_is_never_an_orphan() -> None:
    listed = [copy("a" * 64, GRACE + 10), copy("b" * 64, GRACE + 1)]
    since = NOW - (GRACE + 5)  # the bucket was (re)created between the two stores
    got = rules.orphans(listed, set(), set(), now_ms=NOW, grace_ms=GRACE, metadata_since_ms=since)
    assert [c.chunk_id for c in got] == ["b" * 64]


def test_only_unexpired_reservations_hold() -> None:
    assert rules.reserved({"a": NOW + 1, "b": NOW, "c": NOW - 5}, NOW) == {"a"}


def test_a_removed_files_chunks_are_deleted_on_every_holder_except_shared_ones() -> None:
    m = build_manifest(new_file_id(), size=3 * 4096, segment_size=4096, nodes=("n1", "n2"))
    shared = m.segments[1].chunk_id
    moved = types_pb2.FileLocations(
        file_id=m.file_id,
        chunks=[types_pb2.ChunkLocation(chunk_id=m.segments[0].chunk_id, node_ids=["n2", "n3"])],
    )
    jobs = rules.file_delete_jobs(m, moved, {shared}, reason="file deleted", now_ms=NOW)
    got = {(j.chunk_id, j.target_node_id) for j in jobs}
    first, last = m.segments[0].chunk_id, m.segments[2].chunk_id
    # The signed holders and the recorded ones: n1 may still hold a copy that moved.
    assert got == {(first, "n1"), (first, "n2"), (first, "n3"), (last, "n1"), (last, "n2")}
    assert all(j.kind == DELETE and j.file_id == m.file_id for j in jobs)
    assert all(j.job_id == job_id(DELETE, j.chunk_id, j.target_node_id) for j in jobs)
    assert {j.size for j in jobs} == {4096 + 16}
    again = rules.file_delete_jobs(m, moved, {shared}, reason="file deleted", now_ms=NOW + 9)
    assert [j.job_id for j in again] == [j.job_id for j in jobs]


def test_an_erasure_coded_files_shares_are_all_named() -> None:
    seg = types_pb2.Segment(
        index=0,
        plain_size=10,
        stored_size=26,
        shares=[
            types_pb2.Share(index=i, chunk_id=f"{i:x}" * 64, size=13, node_ids=[f"n{i}"])
            for i in range(3)
        ],
    )
    m = types_pb2.Manifest(file_id=new_file_id(), segments=[seg])
    assert rules.referenced([m]) == {f"{i:x}" * 64 for i in range(3)}
    jobs = rules.file_delete_jobs(m, None, set(), reason="expired", now_ms=NOW)
    assert {(j.chunk_id, j.target_node_id, j.size) for j in jobs} == {
        (f"{i:x}" * 64, f"n{i}", 13) for i in range(3)
    }


def test_a_commit_is_checked_only_for_lapsed_reservations_no_manifest_covers() -> None:
    ids = ["a", "b", "c", "d", "a"]
    records = {"a": NOW - 1, "b": NOW + 1, "c": NOW - 1}
    # a: lapsed; b: still reserved; c: lapsed but another file names it; d: never placed here.
    assert rules.lapsed_at_commit(ids, records, {"c"}, NOW) == ["a"]
    sentence = rules.lapsed_message("f" * 32, "a" * 64, "n1", 30.0)
    assert sentence == (
        f"the upload of file {'f' * 32} took longer than the 30 s grace and chunk {'a' * 64} "
        "is no longer on n1; put the file again"
    )


def test_reservation_records_are_purged_once_named_or_long_lapsed() -> None:
    records = {
        "named-lapsed": NOW - 1,
        "named-live": NOW + 1,
        "recent-lapse": NOW - GRACE,
        "old-lapse": NOW - GRACE - 1,
        "live": NOW + 5,
    }
    named, stale = rules.purgeable(
        records, {"named-lapsed", "named-live"}, now_ms=NOW, grace_ms=GRACE
    )
    assert named == ["named-lapsed"]
    assert stale == ["old-lapse"]


def test_gc_rounds_are_spaced_so_listing_stays_within_its_rate() -> None:
    assert rules.gc_pause(60, 1_000, 5_000) == 60  # a small mesh: the interval
    assert rules.gc_pause(60, 1_500_000, 5_000) == 300  # a big one: listing paced at the rate
    assert rules.gc_pause(60, 0, 5_000) == 60
