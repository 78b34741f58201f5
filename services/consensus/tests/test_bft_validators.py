"""Validator sets: thresholds in voting power and stake-weighted proposer rotation."""

from __future__ import annotations

from collections import Counter

import pytest
from bft_sim import make_keys, make_validator_set

from stratos.common.errors import ConfigError
from stratos.consensus.bft.validators import Validator, ValidatorSet


def test_proposer_frequency_follows_power() -> None:
    """Powers 1,2,3,4 propose exactly 10/20/30/40 % of the rounds, over heights and rounds."""
    keys = make_keys(4)
    vs = make_validator_set(keys, [1, 2, 3, 4])
    power = {v.address: v.power for v in vs}
    by_steps = Counter(vs.proposer(h, 0).address for h in range(1, 1001))
    by_rounds = Counter(vs.proposer(7, r).address for r in range(1000))
    for counts in (by_steps, by_rounds):
        assert {a: n / 1000 for a, n in counts.items()} == {a: p / 10 for a, p in power.items()}


def test_equal_power_is_round_robin() -> None:
    vs = make_validator_set(make_keys(7))
    for start in range(1, 30, 7):
        window = [vs.proposer(h, 0).address for h in range(start, start + 7)]
        assert sorted(window) == sorted(v.address for v in vs)


def test_proposer_is_deterministic_and_order_independent() -> None:
    """Two validators holding the same set agree, whatever they asked before."""
    keys = make_keys(5, seed=3)
    a = make_validator_set(keys, [5, 1, 1, 2, 9])
    b = make_validator_set(list(reversed(keys)), [9, 2, 1, 1, 5])
    queries = [(h, r) for h in (50, 3, 17, 2, 50, 1) for r in (0, 4, 1)]
    assert [a.proposer(h, r) for h, r in queries] == [
        b.proposer(h, r) for h, r in reversed(queries)
    ][::-1]
    fresh = [make_validator_set(keys, [5, 1, 1, 2, 9]).proposer(h, r) for h, r in queries]
    assert fresh == [a.proposer(h, r) for h, r in queries]


def test_next_height_continues_the_rotation() -> None:
    """Round r of height h is step (h - 1) + r of one rotation."""
    vs = make_validator_set(make_keys(4), [1, 2, 3, 4])
    for h in range(1, 20):
        assert vs.proposer(h + 1, 0) == vs.proposer(h, 1)
        assert vs.proposer(h + 1, 2) == vs.proposer(h, 3)


def test_ties_go_to_the_smallest_address() -> None:
    vs = make_validator_set(make_keys(3))
    assert vs.proposer(1, 0).address == min(v.address for v in vs)


@pytest.mark.parametrize(
    ("powers", "quorum", "skip"),
    [
        ([1], 1, 1),
        ([1] * 4, 3, 2),
        ([1] * 7, 5, 3),
        ([1, 1, 1, 10], 9, 5),  # total 13: > 8.67 and > 4.33
        ([3, 3, 3, 3], 9, 5),  # total 12: exactly 2/3 (8) is not a quorum
    ],
)
def test_quorum_and_skip_thresholds(powers: list[int], quorum: int, skip: int) -> None:
    vs = make_validator_set(make_keys(len(powers)), powers)
    assert (vs.quorum_power, vs.skip_power) == (quorum, skip)
    assert vs.has_quorum(quorum) and not vs.has_quorum(quorum - 1)
    assert vs.has_skip(skip) and not vs.has_skip(skip - 1)


def test_a_heavy_validator_needs_more_than_two_thirds_to_decide_alone() -> None:
    assert not make_validator_set(make_keys(4), [1, 1, 1, 5]).has_quorum(5)  # 5 of 8
    assert make_validator_set(make_keys(4), [1, 1, 1, 7]).has_quorum(7)  # 7 of 10


def test_bad_sets_fail_at_construction() -> None:
    k = make_keys(2)
    good = Validator.from_public_key(k[0].public_bytes, 1)
    with pytest.raises(ConfigError, match="at least one"):
        ValidatorSet([])
    with pytest.raises(ConfigError, match="power 0"):
        ValidatorSet([Validator.from_public_key(k[1].public_bytes, 0)])
    with pytest.raises(ConfigError, match="twice"):
        ValidatorSet([good, good])
    with pytest.raises(ConfigError, match="does not match"):
        ValidatorSet([Validator(good.address, k[1].public_bytes, 1)])
