"""apply_block: transfers, fees and nonces, deposits and unbonding, failed-tx semantics,
slashing, block validation, and conservation of supply."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_support import ALICE, BOB, CAROL, STOS, VAL, Chain, addr, genesis, transfer

from stratos.common.errors import InvalidArgument
from stratos.consensus.ledger.apphash import app_hash
from stratos.consensus.ledger.apply import apply_block, verify_proposal
from stratos.consensus.ledger.block import InvalidBlock, block_hash, make_block
from stratos.consensus.ledger.tx import TxCode
from stratos.v1 import ledger_pb2 as pb

FEE = 1_000


def test_transfer_moves_funds_charges_the_fee_and_bumps_the_nonce() -> None:
    c = Chain()
    results = c.commit(
        [c.tx(ALICE, **transfer(BOB, 3 * STOS)), c.tx(ALICE, **transfer(CAROL, STOS))]
    )
    assert [r.code for r in results] == [TxCode.OK, TxCode.OK]
    alice = c.state.accounts[addr(ALICE)]
    assert alice.balance == 10_000 * STOS - 4 * STOS - 2 * FEE
    assert alice.nonce == 2
    assert c.state.accounts[addr(BOB)].balance == 10_003 * STOS
    assert c.state.accounts[addr(CAROL)].balance == STOS  # a transfer creates the account
    assert c.state.fee_pool == 2 * FEE
    assert c.state.height == 1


def test_a_tx_failing_the_ante_step_changes_nothing() -> None:
    c = Chain()
    before = c.state.accounts[addr(ALICE)]
    results = c.commit([c.tx(ALICE, nonce=7, **transfer(BOB, 1)), c.tx(CAROL, **transfer(BOB, 1))])
    assert [r.code for r in results] == [TxCode.BAD_NONCE, TxCode.UNKNOWN_ACCOUNT]
    assert c.state.accounts[addr(ALICE)] == before
    assert c.state.fee_pool == 0


def test_a_refused_message_still_pays_its_fee_and_uses_its_nonce() -> None:
    c = Chain()
    reg = {"register_node": pb.RegisterNode(role=pb.NODE_ROLE_RESOURCE, deposit=1_000 * STOS)}
    # Both pass check_tx on the committed state; in the block the second finds a node already there.
    results = c.commit([c.tx(ALICE, **reg), c.tx(ALICE, **reg)])
    assert [r.code for r in results] == [TxCode.OK, TxCode.REJECTED]
    assert "already registered as a resource node" in results[1].log
    alice = c.state.accounts[addr(ALICE)]
    assert alice.nonce == 2
    assert alice.balance == 10_000 * STOS - 1_000 * STOS - 2 * FEE
    assert c.state.nodes[addr(ALICE)].deposit == 1_000 * STOS


def test_register_unbond_and_release_after_the_delay() -> None:
    c = Chain()
    deposit = 1_500 * STOS
    c.commit(
        [c.tx(BOB, register_node=pb.RegisterNode(role=pb.NODE_ROLE_RESOURCE, deposit=deposit))]
    )
    assert c.state.pool.deposits == deposit
    assert c.state.accounts[addr(BOB)].balance == 10_000 * STOS - deposit - FEE

    (res,) = c.commit([c.tx(BOB, unbond=pb.Unbond())])  # at height 2; unbonding_blocks = 3
    assert res.code == TxCode.OK, res.log
    assert c.state.nodes[addr(BOB)].unbonding_until_height == 5
    assert c.state.pool.deposits == 0  # an unbonding deposit no longer backs ozone
    (again,) = c.commit([c.tx(BOB, unbond=pb.Unbond())])
    assert "already unbonding until height 5" in again.log

    c.commit([])  # height 4: still locked
    assert addr(BOB) in c.state.nodes
    c.commit([])  # height 5: released at the start of the block
    assert addr(BOB) not in c.state.nodes
    assert c.state.accounts[addr(BOB)].balance == 10_000 * STOS - 3 * FEE


def test_unbond_without_a_node_is_refused() -> None:
    c = Chain()
    (res,) = c.commit([c.tx(ALICE, unbond=pb.Unbond())])
    assert res.code == TxCode.REJECTED
    assert "no node is registered" in res.log


def test_slash_takes_a_share_of_the_offenders_deposits_once() -> None:
    offender = addr(VAL)

    def verify(evidence: bytes, state) -> str:
        if evidence != b"double-sign":
            raise InvalidArgument("the two votes are for the same block")
        return offender

    c = Chain(verify_evidence=verify)
    supply = c.state.total_supply()
    bad, good = (
        c.tx(ALICE, slash=pb.Slash(evidence=b"junk")),
        c.tx(ALICE, slash=pb.Slash(evidence=b"double-sign")),
    )
    results = c.commit([bad, good])
    assert results[0].code == TxCode.REJECTED
    assert "the evidence is invalid: the two votes are for the same block" in results[0].log
    assert results[1].code == TxCode.OK, results[1].log
    assert c.state.validators[offender].deposit == 1_800 * STOS  # 10% of 2000
    assert c.state.fee_pool == 200 * STOS + 2 * FEE
    assert c.state.total_supply() == supply
    (replay,) = c.commit([c.tx(BOB, slash=pb.Slash(evidence=b"double-sign"))])
    assert "already committed" in replay.log


def test_blocks_that_cannot_follow_the_state_are_refused() -> None:
    c = Chain()
    block = c.block([c.tx(ALICE, **transfer(BOB, 1))])
    cases = {
        "height": lambda h: setattr(h, "height", 5),
        "does not extend": lambda h: setattr(h, "prev_block_hash", b"x" * 32),
        "app hash": lambda h: setattr(h, "app_hash", b"x" * 32),
        "not a validator": lambda h: setattr(h, "proposer", addr(ALICE)),
        "tx root": lambda h: setattr(h, "tx_root", b"x" * 32),
        "chain": lambda h: setattr(h, "chain_id", "other"),
        "before": lambda h: setattr(h, "time_unix_ms", 0),
    }
    for match, spoil in cases.items():
        bad = pb.Block()
        bad.CopyFrom(block)
        spoil(bad.header)
        with pytest.raises(InvalidBlock, match=match):
            apply_block(c.state, bad)


def test_a_block_chains_to_the_previous_one() -> None:
    c = Chain()
    first = c.block([])
    c.commit([])
    assert c.state.last_block_hash == block_hash(first.header)
    assert make_block(
        c.state, [], time_unix_ms=c.state.time_unix_ms + 1, proposer=addr(VAL)
    ).header.prev_block_hash == block_hash(first.header)


def test_apply_block_is_deterministic_and_order_sensitive() -> None:
    c = Chain()
    txs = [
        c.tx(ALICE, prepay_ozone=pb.PrepayOzone(amount=50 * STOS)),
        c.tx(BOB, prepay_ozone=pb.PrepayOzone(amount=70 * STOS)),
    ]
    block = c.block(txs)
    s1, r1, h1 = apply_block(c.state, block)
    _, r2, h2 = apply_block(c.state, block)
    assert h1 == h2 == app_hash(s1)
    assert r1 == r2
    swapped = c.block(list(reversed(txs)))
    _, _, h3 = apply_block(c.state, swapped)
    assert h3 != h1  # the second buyer pays a higher price either way round


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 2]), st.sampled_from([0, 1, 2]), st.integers(1, 6_000 * STOS)
        ),
        max_size=8,
    )
)
def test_transfers_conserve_supply_with_fees_in_the_fee_pool(moves) -> None:
    who = [ALICE, BOB, CAROL]
    c = Chain(genesis(alice=10_000 * STOS, bob=5_000 * STOS, carol=1).initial_state())
    supply = c.state.total_supply()
    results = c.commit([c.tx(who[a], **transfer(who[b], amt)) for a, b, amt in moves])
    paid = sum(FEE for r in results if r.code == TxCode.OK)
    assert c.state.total_supply() == supply
    assert c.state.fee_pool == paid


def test_a_proposal_with_a_failing_tx_is_refused_but_still_applies() -> None:
    c = Chain()
    good, bad = c.tx(ALICE, **transfer(BOB, 1)), c.tx(CAROL, **transfer(BOB, 1))
    new, results, app = verify_proposal(c.state, c.block([good]))
    assert app == app_hash(new) and results[0].code == TxCode.OK
    with pytest.raises(InvalidBlock, match=r"tx 1 fails: the account \w+ is unknown"):
        verify_proposal(c.state, c.block([good, bad]))
    _, results, _ = apply_block(c.state, c.block([good, bad]))  # once committed, it applies
    assert [r.code for r in results] == [TxCode.OK, TxCode.UNKNOWN_ACCOUNT]
