"""A put's options are checked in one place (`put_options.check_put`), which both `MeshClient.put`
and `stratos put` call: copies or an erasure code, never both; replicas within 1..MAX_REPLICAS;
a chosen segment size within its bounds and cutting the file into few enough segments."""

from __future__ import annotations

import pytest

from stratos.common.errors import InvalidArgument
from stratos.common.limits import MAX_REPLICAS, MIB
from stratos.sdk.put_options import (
    DEFAULT_REPLICAS,
    PutOptions,
    RedundancyConflict,
    ReplicasOutOfRange,
    check_put,
)


def test_nothing_asked_is_three_copies_in_the_mesh_s_segments():
    assert check_put(10) == PutOptions(replicas=DEFAULT_REPLICAS, erasure=None, segment_size=None)


def test_a_coded_file_stores_each_share_once():
    assert check_put(10, erasure=(4, 2), segment_size=MIB) == PutOptions(1, (4, 2), MIB)


@pytest.mark.parametrize("replicas", [0, -1, MAX_REPLICAS + 1, 2**64])
def test_replicas_out_of_range_carry_the_value_and_the_range(replicas):
    with pytest.raises(ReplicasOutOfRange) as exc:
        check_put(10, replicas=replicas)
    assert (exc.value.replicas, exc.value.lo, exc.value.hi) == (replicas, 1, MAX_REPLICAS)
    assert str(exc.value) == f"replicas must be between 1 and {MAX_REPLICAS}, not {replicas}"
    assert isinstance(exc.value, InvalidArgument)


@pytest.mark.parametrize("replicas", [1, 2, 3])
def test_copies_and_an_erasure_code_are_never_both_asked_for(replicas):
    with pytest.raises(RedundancyConflict) as exc:
        check_put(10, replicas=replicas, erasure=(4, 2))
    assert (exc.value.replicas, exc.value.erasure) == (replicas, (4, 2))
    assert "either replicas or an erasure code" in str(exc.value)


def test_the_code_s_own_rules_are_checked_before_the_conflict():
    with pytest.raises(InvalidArgument, match="at least 1 parity share"):
        check_put(10, replicas=2, erasure=(4, 0))


def test_a_chosen_segment_size_is_bounded_and_must_fit_one_manifest():
    with pytest.raises(InvalidArgument, match=r"between 64 KiB and 64 MiB, not 1 byte$"):
        check_put(10, segment_size=1)
    with pytest.raises(InvalidArgument, match="needs 1638400 segments, but a manifest"):
        check_put(100 << 30, segment_size=64 << 10)
    with pytest.raises(InvalidArgument, match="with erasure code 4\\+2"):
        check_put(2 << 40, erasure=(4, 2), segment_size=64 * MIB)
