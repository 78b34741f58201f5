"""Ozone leases (stratos.index.ozone_rules): index replicas never promise the same ozone twice,
a burst of small files takes one lease, and spent leases lapse once their epoch settled."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stratos.index.ozone_rules import (
    HOLD_MS,
    LEASE_MIN,
    Lease,
    decode,
    encode,
    grant,
    release,
    reserved,
)

NOW = 1_700_000_000_000
GIB = 1 << 30


def test_a_lease_takes_a_slice_so_later_tickets_need_no_write() -> None:
    g = grant(100 * GIB, [], holder="index-1", need=64 << 10, now_ms=NOW)
    assert g.amount == LEASE_MIN  # not just the 64 KiB asked for
    assert g.leases == [Lease("index-1", LEASE_MIN, NOW + HOLD_MS)]
    assert (g.held, g.reserved) == (100 * GIB, 0)


def test_what_another_replica_leased_is_not_free() -> None:
    first = grant(3 * GIB, [], holder="index-1", need=GIB, now_ms=NOW)
    second = grant(3 * GIB, first.leases, holder="index-2", need=2 * GIB, now_ms=NOW)
    third = grant(3 * GIB, second.leases, holder="index-3", need=1, now_ms=NOW)
    assert first.amount + second.amount <= 3 * GIB
    assert third.amount == 0 and third.reserved == first.amount + second.amount


def test_a_payer_short_of_ozone_is_refused_with_what_it_has() -> None:
    g = grant(1_000, [], holder="index-1", need=1_001, now_ms=NOW)
    assert (g.amount, g.held, g.reserved) == (0, 1_000, 0)


def test_leases_lapse_after_their_tickets_receipts_and_epoch() -> None:
    old = [Lease("index-1", 900, NOW - 1), Lease("index-2", 50, NOW + 10)]
    assert reserved(old, NOW) == 50
    g = grant(1_000, old, holder="index-3", need=900, now_ms=NOW)
    assert g.amount >= 900 and all(x.until_ms > NOW for x in g.leases)


def test_the_bucket_value_round_trips_and_garbage_reads_as_nothing() -> None:
    leases = [Lease("index-1", 5, NOW), Lease("index-2", 7, NOW + 1)]
    assert decode(encode(leases)) == leases
    assert decode(b"{not json") == [] and decode(None) == [] and decode(b'[["a"]]') == []


@given(
    st.integers(min_value=0, max_value=10**15),
    st.lists(st.integers(min_value=1, max_value=10**13), min_size=1, max_size=12),
)
def test_no_sequence_of_grants_promises_more_than_is_held(held: int, needs: list[int]) -> None:
    leases: list[Lease] = []
    for i, need in enumerate(needs):
        g = grant(held, leases, holder=f"index-{i % 3}", need=need, now_ms=NOW)
        assert g.amount == 0 or g.amount >= need
        leases = g.leases
        assert reserved(leases, NOW) <= held


def test_release_gives_back_the_unspent_part_of_one_lease_only() -> None:
    mine = Lease("index-1", 10 * GIB, NOW + HOLD_MS)
    older = Lease("index-1", GIB, NOW + 5)
    theirs = Lease("index-2", 4 * GIB, NOW + HOLD_MS)
    after = release(
        [older, mine, theirs], holder="index-1", until_ms=NOW + HOLD_MS, unspent=9 * GIB
    )
    assert after == [older, Lease("index-1", GIB, NOW + HOLD_MS), theirs]
    # all of it unspent: the lease is gone; a lease not found changes nothing
    assert release([mine], holder="index-1", until_ms=NOW + HOLD_MS, unspent=10 * GIB) == []
    assert release([theirs], holder="index-1", until_ms=NOW + HOLD_MS, unspent=GIB) == [theirs]


@given(
    held=st.integers(0, 1 << 40),
    needs=st.lists(st.integers(1, 1 << 36), max_size=12),
    spent_share=st.fractions(0, 1),
)
def test_giving_back_what_was_unspent_frees_exactly_that_and_never_more(
    held, needs, spent_share
) -> None:
    leases: list[Lease] = []
    for i, need in enumerate(needs):
        g = grant(held, leases, holder=f"index-{i % 2}", need=need, now_ms=NOW)
        leases = g.leases
        if g.amount:
            mine = leases[-1]
            unspent = int(g.amount * (1 - spent_share))
            before = reserved(leases, NOW)
            leases = release(leases, holder=mine.holder, until_ms=mine.until_ms, unspent=unspent)
            assert reserved(leases, NOW) == before - unspent
        assert reserved(leases, NOW) <= held
