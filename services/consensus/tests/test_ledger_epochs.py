"""Proof-of-Traffic settlement on the ledger: who may report an epoch, when, how often, and what
a settled report does to ozone, rewards, debts and the supply."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_support import CHAIN_ID, PARAMS, STOS, VAL, Chain, addr, key

from stratos.common.epoch_reports import report_digest
from stratos.common.identity import Identity
from stratos.consensus.ledger import epochs
from stratos.consensus.ledger.apphash import app_hash, decode_header, encode_header
from stratos.consensus.ledger.apply import check_tx
from stratos.consensus.ledger.genesis import Genesis, GenesisValidator
from stratos.consensus.ledger.pricing import OzonePool
from stratos.consensus.ledger.tx import TxCode
from stratos.v1 import ledger_pb2 as pb

P = replace(
    PARAMS,
    epoch_blocks=2,
    mining_reward=10 * STOS,
    audit_slash=100 * STOS,
    suspend_debt_bps=5_000,
)
META = [key(20), key(21), key(22)]
R1, R2 = key(30), key(31)
USER = key(40)
FUNDED = 5_000 * STOS
PREPAID = 100 * STOS


def mesh_chain(params: pb = P) -> Chain:
    """Three meta nodes (500 STOS each), two resource nodes (1000 STOS each) and a user who
    prepaid 100 STOS for ozone, all in block 1."""
    g = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_unix_ms=1_700_000_000_000,
        accounts=tuple((addr(k), FUNDED) for k in [*META, R1, R2, USER]),
        validators=(GenesisValidator(VAL.public_bytes, power=10, deposit=2_000 * STOS),),
        params=params,
    )
    c = Chain(g.initial_state())
    c.genesis_supply = c.state.total_supply()
    txs = [
        c.tx(m, register_node=pb.RegisterNode(role=pb.NODE_ROLE_META, deposit=500 * STOS))
        for m in META
    ]
    txs += [
        c.tx(r, register_node=pb.RegisterNode(role=pb.NODE_ROLE_RESOURCE, deposit=1_000 * STOS))
        for r in (R1, R2)
    ]
    txs.append(c.tx(USER, prepay_ozone=pb.PrepayOzone(amount=PREPAID)))
    assert {r.code for r in c.commit(txs)} == {TxCode.OK}
    return c


def report(
    epoch: int,
    traffic: dict[Identity, tuple[int, int]] | None = None,
    payers: dict[Identity, int] | None = None,
    signers: list[Identity] = META,
) -> dict:
    r = pb.EpochReport(epoch=epoch)
    for who, (moved, failed) in sorted((traffic or {}).items(), key=lambda kv: addr(kv[0])):
        r.traffic.add(node=addr(who), bytes=moved, audits_failed=failed)
    for who, ozone in sorted((payers or {}).items(), key=lambda kv: addr(kv[0])):
        r.payers.add(payer=addr(who), ozone=ozone)
    digest = report_digest(CHAIN_ID, r)
    for s in signers:
        r.signatures.add(public_key=s.public_bytes, signature=s.sign(digest))
    return {"epoch_report": r}


def until(c: Chain, height: int) -> None:
    while c.state.height < height:
        c.commit([])


def settle(c: Chain, msg: dict, sender: Identity = META[0]) -> pb.TxResult:
    until(c, epochs.first_reportable_height(msg["epoch_report"].epoch, P.epoch_blocks) - 1)
    (result,) = c.commit([c.tx(sender, **msg)])
    return result


def refused(c: Chain, msg: dict, match: str, sender: Identity = META[0]) -> None:
    before = app_hash(c.state)
    result = check_tx(c.state, c.tx(sender, nonce=c.state.accounts[addr(sender)].nonce, **msg))
    assert result.code == TxCode.REJECTED, result.log
    assert match in result.log
    assert app_hash(c.state) == before


def ozone(c: Chain, who: Identity) -> int:
    return c.state.accounts[addr(who)].ozone


def balance(c: Chain, who: Identity) -> int:
    acct = c.state.accounts.get(addr(who))
    return acct.balance if acct else 0


def test_an_epoch_settles_once_in_order_and_only_after_it_ends() -> None:
    c = mesh_chain()
    # epoch 0 is heights 1-2: the block at height 2 cannot carry its report
    refused(c, report(0), "epoch 0 ends at height 2; report it from height 3")
    until(c, 2)
    refused(c, report(1), "epoch 1 cannot settle before epoch 0")
    assert settle(c, report(0)).code == TxCode.OK
    assert c.state.epochs.next_to_settle == 1
    assert c.state.epochs.last_report_digest == report_digest(CHAIN_ID, report(0)["epoch_report"])
    refused(c, report(0), "epoch 0 is already settled")


def test_only_two_thirds_of_bonded_meta_nodes_can_settle_a_report() -> None:
    c = mesh_chain()
    until(c, 2)
    refused(c, report(0), "only a bonded meta-service node", sender=USER)
    refused(c, report(0, signers=META[:1]), "1 of 3 bonded meta nodes signed")
    refused(c, report(0, signers=[META[0], USER]), "which is not a bonded meta node")
    refused(c, report(0, signers=[META[0], META[0]]), "two signatures from")
    forged = report(0, signers=META[:2])
    forged["epoch_report"].signatures[1].signature = META[1].sign(b"something else")
    refused(c, forged, "does not match the report")
    # the same signatures over different numbers: a signer agreed to other traffic
    swapped = report(0, {R1: (10, 0)}, signers=META[:2])
    swapped["epoch_report"].traffic[0].bytes = 10_000
    refused(c, swapped, "does not match the report")
    assert settle(c, report(0, signers=META[:2])).code == TxCode.OK


def test_a_malformed_report_is_refused_before_the_state_is_read() -> None:
    c = mesh_chain()
    unsorted = report(0, {R1: (10, 0), R2: (10, 0)})
    first, second = (pb.NodeTraffic(), pb.NodeTraffic())
    first.CopyFrom(unsorted["epoch_report"].traffic[1])
    second.CopyFrom(unsorted["epoch_report"].traffic[0])
    del unsorted["epoch_report"].traffic[:]
    unsorted["epoch_report"].traffic.extend([first, second])
    overcharged = report(0, {R1: (10, 0)}, {USER: 11})
    for msg, match in ((unsorted, "sorted by address"), (overcharged, "more ozone than")):
        result = check_tx(c.state, c.tx(META[0], nonce=1, **msg))
        assert result.code == TxCode.MALFORMED and match in result.log


def test_a_report_may_exceed_the_tx_limit_but_not_its_own() -> None:
    c = mesh_chain(replace(P, max_report_bytes=64 * 1024))
    until(c, 2)
    many = {key(100 + i): (1, 0) for i in range(40)}  # ~2.5 KB: above max_tx_bytes (1 KiB)
    raw = c.tx(META[0], nonce=1, **report(0, many))
    assert len(raw) > P.max_tx_bytes
    result = check_tx(c.state, raw)
    assert result.code == TxCode.OK  # read and applied: those nodes are not registered
    assert "40 listed nodes are not registered resource nodes and earn nothing" in result.log
    huge = {Identity.generate(): (1, 0) for _ in range(2_000)}
    result = check_tx(c.state, c.tx(META[0], nonce=1, **report(0, huge)))
    assert result.code == TxCode.OVERSIZED and "limit is 65536 bytes" in result.log


def test_settlement_debits_ozone_and_pays_the_traffic_reward_by_the_formula() -> None:
    c = mesh_chain()
    held = ozone(c, USER)
    used = held // 4
    until(c, 2)
    pool = c.state.pool
    before = {who: balance(c, who) for who in (R1, R2, *META)}
    result = settle(c, report(0, {R1: (used, 0)}, {USER: used}))
    assert result.code == TxCode.OK, result.log
    assert ozone(c, USER) == held - used
    r = (pool.deposits + pool.prepaid) * used // (pool.limit + used)
    assert 0 < r == epochs.traffic_reward(pool, used)
    after = c.state.pool
    assert after.limit == pool.limit + used  # the consumed ozone is on sale again
    assert pool.prepaid - after.prepaid == r - sum_of_rounding(r)
    # R1 served every byte: all of R's resource share, plus half of M's (equal deposits)
    r1 = balance(c, R1) - before[R1]
    r2 = balance(c, R2) - before[R2]
    assert r1 - r2 == r * P.reward_resource_bps // 10_000
    assert r2 == P.mining_reward * P.reward_resource_bps // 10_000 // 2
    # every signer gets a third of the meta share of R and of M (equal deposits); the sender
    # also paid the fee
    meta_share = (r * P.reward_meta_bps // 10_000) // 3 + (
        P.mining_reward * P.reward_meta_bps // 10_000
    ) // 3
    assert balance(c, META[1]) - before[META[1]] == meta_share
    assert balance(c, META[0]) - before[META[0]] == meta_share - 1_000
    assert c.state.total_supply() == c.genesis_supply + c.state.epochs.minted
    meta_mined = P.mining_reward * P.reward_meta_bps // 10_000
    assert c.state.epochs.minted == P.mining_reward - (meta_mined - meta_mined // 3 * 3)


def sum_of_rounding(r: int) -> int:
    """What floor division leaves of R in the test's split (validators 1, resource 1, meta 3)."""
    meta = r * P.reward_meta_bps // 10_000
    return r - (
        r * P.reward_validators_bps // 10_000 + r * P.reward_resource_bps // 10_000 + meta // 3 * 3
    )


def test_a_node_downloading_its_own_files_pays_more_than_it_earns() -> None:
    """Self-dealing: R1's owner buys ozone and moves bytes at R1 for itself. Its node's extra
    earnings (against the same epoch without that traffic) stay below what the ozone cost."""
    earned = {}
    for looped in (False, True):
        c = mesh_chain()
        spent = 0
        if looped:
            before = balance(c, R1)
            assert c.commit([c.tx(R1, prepay_ozone=pb.PrepayOzone(amount=500 * STOS))])[0].code == 0
            spent = before - balance(c, R1)
        start = balance(c, R1)
        y = ozone(c, R1) if looped else 0
        msg = report(0, {R1: (y, 0), R2: (0, 0)}, {R1: y} if looped else {})
        assert settle(c, msg).code == TxCode.OK
        earned[looped] = balance(c, R1) - start
    gain = earned[True] - earned[False]
    assert 0 < gain < spent


@given(
    st.lists(st.integers(min_value=0, max_value=10**15), min_size=1, max_size=6),
    st.integers(min_value=0, max_value=10**15),
    st.integers(min_value=0, max_value=10**13),
)
def test_splitting_a_node_into_two_identities_never_earns_more(
    weights: list[int], part: int, amount: int
) -> None:
    """Rewards are linear in bytes and deposits and round down, so the two halves of a node
    earn at most what the whole would."""
    whole = {f"n{i}": w for i, w in enumerate(weights)}
    part = min(part, whole["n0"])
    halves = {**whole, "n0": whole["n0"] - part, "twin": part}
    one = epochs.split(amount, whole.items()).get("n0", 0)
    two = epochs.split(amount, halves.items())
    assert two.get("n0", 0) + two.get("twin", 0) <= one
    assert sum(epochs.split(amount, whole.items()).values()) <= amount


def test_failed_audits_slash_the_next_settled_epoch_and_suspend_past_the_threshold() -> None:
    c = mesh_chain()
    res = settle(c, report(0, {R2: (10, 3)}))
    assert res.code == TxCode.OK
    node = c.state.nodes[addr(R2)]
    mining_share = P.mining_reward * P.reward_resource_bps // 10_000 // 2
    # 3 failed audits = 300 STOS of debt, less what this epoch's reward already paid
    assert node.debt == 3 * P.audit_slash - mining_share
    assert not node.suspended(P)
    # the result says so: what R2 earned, what of it paid its debt, what it was slashed
    credit = next(x for x in res.credits if x.address == addr(R2))
    assert credit.slashed == 3 * P.audit_slash
    assert credit.debt_paid == credit.amount >= mining_share
    assert all(x.slashed == 0 for x in res.credits if x.address != addr(R2))
    # three more: debt ≥ 50% of the 1000 STOS deposit → suspended, so no stake reward either
    before = balance(c, R2)
    assert settle(c, report(1, {R2: (0, 3)})).code == TxCode.OK
    node = c.state.nodes[addr(R2)]
    assert node.suspended(P)
    assert node.debt == 6 * P.audit_slash - mining_share
    assert balance(c, R2) == before
    # unbonding returns the deposit less the unpaid debt; the debt goes to the fee pool
    assert c.commit([c.tx(R2, unbond=pb.Unbond())])[0].code == TxCode.OK
    fees, funds = c.state.fee_pool, balance(c, R2)
    until(c, c.state.nodes[addr(R2)].unbonding_until_height)
    assert addr(R2) not in c.state.nodes
    assert balance(c, R2) - funds == 1_000 * STOS - node.debt
    assert c.state.fee_pool - fees == node.debt
    assert c.state.total_supply() == c.genesis_supply + c.state.epochs.minted


def test_honest_nodes_are_never_slashed_over_many_epochs() -> None:
    c = mesh_chain()
    per_epoch = ozone(c, USER) // 10
    for epoch in range(6):
        msg = report(epoch, {R1: (per_epoch, 0), R2: (per_epoch, 0)}, {USER: per_epoch})
        assert settle(c, msg).code == TxCode.OK
    assert c.state.epochs.next_to_settle == 6
    assert all(n.debt == 0 for n in c.state.nodes.values())
    assert c.state.total_supply() == c.genesis_supply + c.state.epochs.minted


epoch_traffic = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10**13),  # bytes at R1
        st.integers(min_value=0, max_value=10**13),  # bytes at R2
        st.integers(min_value=0, max_value=4),  # R2's failed audits
        st.integers(min_value=0, max_value=2 * 10**13),  # ozone charged to the user
        st.sampled_from([2, 3]),  # signers
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=25, deadline=None)
@given(epoch_traffic)
def test_ledger_invariants_hold_after_any_sequence_of_epochs(seq) -> None:
    c = mesh_chain()
    for epoch, (b1, b2, failed, charged, signers) in enumerate(seq):
        charged = min(charged, b1 + b2)
        msg = report(epoch, {R1: (b1, 0), R2: (b2, failed)}, {USER: charged}, META[:signers])
        balances = {a: x.balance for a, x in c.state.accounts.items()}
        minted, prepaid = c.state.epochs.minted, c.state.pool.prepaid
        res = settle(c, msg)
        assert res.code == TxCode.OK
        s = c.state
        assert s.total_supply() == c.genesis_supply + s.epochs.minted
        # every credit is what the address gained, less what paid its debt; they sum to the
        # epoch's traffic reward plus what it minted
        for x in res.credits:
            if x.address != addr(META[0]):  # the submitter also paid the report's fee
                gained = s.accounts[x.address].balance - balances.get(x.address, 0)
                assert gained == x.amount - x.debt_paid
        paid_from_pool = prepaid - s.pool.prepaid
        assert sum(x.amount for x in res.credits) == paid_from_pool + s.epochs.minted - minted
        assert s.epochs.next_to_settle == epoch + 1
        assert s.pool.prepaid >= 0 and s.pool.limit >= 0
        assert all(a.balance >= 0 and a.ozone >= 0 for a in s.accounts.values())
    # the header (epoch book, node debts) survives the store's round trip
    back = decode_header(encode_header(c.state), c.state.accounts, c.state.nodes)
    assert app_hash(back) == app_hash(c.state)
    assert back.epochs == c.state.epochs


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 7, 100])
def test_the_quorum_is_two_thirds_rounded_up(n: int) -> None:
    q = epochs.quorum(n)
    assert 3 * q >= 2 * n and (q == 1 or 3 * (q - 1) < 2 * n)


def test_bytes_at_an_unregistered_node_earn_nothing_and_do_not_block_the_epoch() -> None:
    c = mesh_chain()
    stranger = key(50)
    before = balance(c, stranger)
    result = settle(c, report(0, {stranger: (1_000, 2), R1: (10, 0)}))
    assert result.code == TxCode.OK and "1 listed nodes are not registered" in result.log
    assert balance(c, stranger) == before
    assert addr(stranger) not in c.state.nodes
    assert c.state.epochs.next_to_settle == 1


def test_the_traffic_reward_never_exceeds_the_prepaid_pool() -> None:
    assert epochs.traffic_reward(OzonePool(10**15, 5, 10), 10**6) == 5
    assert epochs.traffic_reward(OzonePool(10, 10, 10), 0) == 0
