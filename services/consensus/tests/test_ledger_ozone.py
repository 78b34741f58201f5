"""Ozone prepay: the constant-product price (S+P)/L, exactly, in the pure formula and in blocks."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st
from ledger_support import ALICE, BOB, PARAMS, STOS, Chain, addr

from stratos.consensus.ledger.pricing import OzonePool, after_prepay, ozone_for_prepay, ozone_price
from stratos.consensus.ledger.tx import TxCode
from stratos.v1 import ledger_pb2 as pb

amounts = st.integers(min_value=0, max_value=10**19)


def test_examples_match_the_formula() -> None:
    pool = OzonePool(deposits=1_000, prepaid=0, limit=1_000_000)
    assert ozone_for_prepay(pool, 1_000) == 500_000  # L·X/(S+P+X) = 1e6·1e3/2e3
    assert ozone_for_prepay(pool, 3) == 2_991  # floor(3e6 / 1003) = floor(2991.02...)
    after, bought = after_prepay(pool, 1_000)
    assert (after, bought) == (OzonePool(1_000, 1_000, 500_000), 500_000)
    assert ozone_price(pool) == Fraction(1, 1000)
    assert ozone_price(after) == Fraction(2_000, 500_000)


def test_nothing_left_has_no_price() -> None:
    assert ozone_price(OzonePool(5, 5, 0)) is None
    assert ozone_for_prepay(OzonePool(5, 5, 0), 100) == 0


@given(
    amounts,
    amounts,
    st.integers(min_value=0, max_value=10**18),
    st.integers(min_value=1, max_value=10**19),
)
def test_never_more_than_the_limit_and_the_price_rises(s: int, p: int, limit: int, x: int) -> None:
    pool = OzonePool(s, p, limit)
    after, bought = after_prepay(pool, x)
    assert 0 <= bought <= limit
    assert after.limit >= 0
    if s + p > 0:
        assert bought < limit or limit == 0  # S+P > 0 keeps some ozone unsold
        old, new = ozone_price(pool), ozone_price(after)
        if old is not None and new is not None:
            assert new >= old


def test_prepay_in_a_block_credits_ozone_and_grows_p() -> None:
    c = Chain()
    c.commit(
        [c.tx(BOB, register_node=pb.RegisterNode(role=pb.NODE_ROLE_RESOURCE, deposit=1_000 * STOS))]
    )
    pool = c.state.pool
    assert (pool.deposits, pool.prepaid, pool.limit) == (
        1_000 * STOS,
        0,
        PARAMS.initial_ozone_limit,
    )
    x = 250 * STOS
    expected = PARAMS.initial_ozone_limit * x // (1_000 * STOS + x)
    (res,) = c.commit([c.tx(ALICE, prepay_ozone=pb.PrepayOzone(amount=x))])
    assert res.code == TxCode.OK, res.log
    assert c.state.accounts[addr(ALICE)].ozone == expected
    assert c.state.pool == OzonePool(1_000 * STOS, x, PARAMS.initial_ozone_limit - expected)
    # The same prepay again buys less: the price went up.
    c.commit([c.tx(ALICE, prepay_ozone=pb.PrepayOzone(amount=x))])
    assert c.state.accounts[addr(ALICE)].ozone - expected < expected


def test_a_prepay_that_buys_nothing_is_refused() -> None:
    c = Chain()
    c.commit(
        [c.tx(BOB, register_node=pb.RegisterNode(role=pb.NODE_ROLE_RESOURCE, deposit=5_000 * STOS))]
    )
    # L·X/(S+P+X) with L = 1e12 and S = 5e12 nstos: 1 nstos buys floor(1e12/5e12) = 0.
    (res,) = c.commit([c.tx(ALICE, prepay_ozone=pb.PrepayOzone(amount=1))])
    assert res.code == TxCode.REJECTED
    assert "buys no ozone at the current price" in res.log
