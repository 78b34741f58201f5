"""The erasure codec: any k of k + m shares give back the exact bytes, rebuilt shares equal the
encoded ones, and bad codes or too few shares are one sentence each."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratos.common import erasure
from stratos.common.errors import DataLoss, InvalidArgument

codes = st.integers(1, 8).flatmap(lambda k: st.tuples(st.just(k), st.integers(1, 8)))
payloads = st.one_of(st.sampled_from([b"", b"\x01"]), st.binary(max_size=3000))


@pytest.mark.parametrize(
    ("text", "code"), [("4+2", (4, 2)), ("2+1", (2, 1)), (" 10 + 6 ", (10, 6)), ("1+31", (1, 31))]
)
def test_parse_ec_reads_data_plus_parity(text, code):
    assert erasure.parse_ec(text) == code


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "DATA+PARITY"),
        ("4", "DATA+PARITY"),
        ("4+", "DATA+PARITY"),
        ("a+b", "DATA+PARITY"),
        ("4-2", "DATA+PARITY"),
        ("-1+2", "DATA+PARITY"),
        ("0+2", "at least 1 data share"),
        ("4+0", "at least 1 parity share"),
        ("20+13", "at most 32 shares"),
    ],
)
def test_parse_ec_refuses_bad_codes_with_one_sentence(text, fragment):
    with pytest.raises(InvalidArgument) as info:
        erasure.parse_ec(text)
    assert fragment in info.value.message and "\n" not in info.value.message


@pytest.mark.parametrize(
    ("stored", "k", "size"), [(0, 4, 1), (1, 4, 1), (4, 4, 1), (5, 4, 2), (17, 1, 17), (16, 3, 6)]
)
def test_share_size_is_the_ceiling_and_at_least_one(stored, k, size):
    assert erasure.share_size(stored, k) == size


@settings(max_examples=150, deadline=None)
@given(code=codes, data=payloads)
def test_encode_then_decode_round_trips(code, data):
    k, m = code
    shares = erasure.encode(data, k, m)
    size = erasure.share_size(len(data), k)
    assert len(shares) == k + m and all(len(s) == size for s in shares)
    assert b"".join(shares[:k])[: len(data)] == data  # systematic: data shares are the bytes
    assert erasure.decode(dict(enumerate(shares)), k, m, len(data)) == data


@settings(max_examples=150, deadline=None)
@given(code=codes, data=payloads, pick=st.randoms(use_true_random=False))
def test_any_k_shares_decode_and_rebuild_the_missing_ones_exactly(code, data, pick):
    k, m = code
    shares = erasure.encode(data, k, m)
    kept = sorted(pick.sample(range(k + m), k))
    subset = {i: shares[i] for i in kept}
    assert erasure.decode(subset, k, m, len(data)) == data
    missing = [i for i in range(k + m) if i not in kept]
    assert erasure.rebuild(subset, k, m, missing) == {i: shares[i] for i in missing}


@pytest.mark.parametrize(("k", "m"), [(1, 1), (2, 1), (3, 2), (4, 2)])
def test_every_k_subset_of_a_small_code_decodes(k, m):
    data = bytes(range(256)) * 3 + b"tail"
    shares = erasure.encode(data, k, m)
    for kept in itertools.combinations(range(k + m), k):
        subset = {i: shares[i] for i in kept}
        assert erasure.decode(subset, k, m, len(data)) == data
        assert erasure.rebuild(subset, k, m, range(k + m)) == dict(enumerate(shares))


def test_fewer_than_k_shares_is_data_loss_naming_the_counts():
    shares = erasure.encode(b"x" * 100, 4, 2)
    with pytest.raises(DataLoss, match="only 3 of the 4 shares"):
        erasure.decode({0: shares[0], 4: shares[4], 5: shares[5]}, 4, 2, 100)
    with pytest.raises(DataLoss, match="only 1 of the 2 shares"):
        erasure.rebuild({2: erasure.encode(b"ab", 2, 1)[2]}, 2, 1, [0])


def test_shares_of_different_sizes_are_refused():
    a = erasure.encode(b"x" * 100, 2, 1)
    with pytest.raises(DataLoss, match="differ in size"):
        erasure.decode({0: a[0], 2: a[2][:-1]}, 2, 1, 100)


def test_rebuilding_a_share_outside_the_code_is_refused():
    shares = erasure.encode(b"abc", 2, 1)
    with pytest.raises(InvalidArgument, match="share 3 does not exist in a 2\\+1 code"):
        erasure.rebuild(dict(enumerate(shares)), 2, 1, [3])


def test_encode_refuses_a_bad_code():
    with pytest.raises(InvalidArgument, match="at least 1 parity share"):
        erasure.encode(b"abc", 3, 0)
