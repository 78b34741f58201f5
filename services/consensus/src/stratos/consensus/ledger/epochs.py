"""Proof-of-Traffic settlement: what one epoch's report does to the money, as pure arithmetic.

An epoch is `epoch_blocks` blocks: epoch e covers heights [e·N + 1, (e+1)·N] and may be reported
from height (e+1)·N + 1 on. Epochs settle in order, each exactly once, by one `EpochReport` tx
that bonded meta nodes holding at least 2/3 of their count signed (`report_digest`).

The formulas follow the Stratos chain's `x/pot` module:

- **Ozone.** Each payer's ozone is debited by what its receipts used (at most what it holds);
  Y is the total debited. 1 ozone pays for 1 byte moved at one node.
- **Traffic reward** R = (S+P)·Y / (L+Y), with S the bonded resource deposits, P the prepaid
  pool and L the ozone left to sell. R is paid out of P (never more than P holds), and the Y
  ozone consumed goes back on sale (L += Y): prepaying buys ozone at (S+P)/L, so what one
  epoch's traffic pays out is always less than its ozone cost.
- **Mining reward** M = `mining_reward` nstos per settled epoch, minted.
- Both are split by `reward_*_bps`: validators by voting power; resource nodes — R's share by
  the bytes each served, M's share by bonded deposit (so moving bytes for oneself earns no
  mining reward); meta nodes that signed the report by their deposit. Every split is linear and
  rounds down, so one node split into two identities never earns more than the one would.
  What rounding leaves stays where it came from: R's remainder in P, M's is never minted.
- **Slashing.** Each failed audit adds `audit_slash` to the node's debt. A node's rewards pay
  its debt first (the paid part goes to the fee pool, which the validators collect); what is
  left at unbonding comes out of the deposit. A node whose debt reaches `suspend_debt_bps` of
  its deposit is suspended: the index places no new data on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stratos.common.epoch_reports import report_digest, shape_problem
from stratos.consensus.ledger.pricing import OzonePool
from stratos.consensus.ledger.state import LedgerState, NodeRecord, Params
from stratos.v1 import consensus_pb2
from stratos.v1 import ledger_pb2 as pb


def epoch_of(height: int, epoch_blocks: int) -> int:
    """The epoch block `height` (≥ 1) belongs to."""
    return (height - 1) // epoch_blocks


def first_reportable_height(epoch: int, epoch_blocks: int) -> int:
    """The first height whose block may carry epoch `epoch`'s report: the one after its last."""
    return (epoch + 1) * epoch_blocks + 1


def quorum(bonded_meta: int) -> int:
    """Signatures needed: at least 2/3 of the bonded meta nodes (rounded up), and at least one."""
    return max(1, -(-2 * bonded_meta // 3))


def node_message(address: str, node: NodeRecord, params: Params) -> pb.NodeRecord:
    """A node's record as the API answers it."""
    return pb.NodeRecord(
        address=address,
        role=node.role,
        deposit=node.deposit,
        unbonding_until_height=node.unbonding_until_height,
        debt=node.debt,
        suspended=node.suspended(params),
    )


def epoch_status(state: LedgerState) -> consensus_pb2.EpochStatus:
    """Where settlement stands after `state` (O(registered nodes), for the bonded meta count)."""
    book, n = state.epochs, state.params.epoch_blocks
    meta = sum(1 for r in state.nodes.values() if r.role == pb.NODE_ROLE_META and r.bonded)
    return consensus_pb2.EpochStatus(
        epoch_blocks=n,
        current_epoch=epoch_of(state.height + 1, n),
        next_to_settle=book.next_to_settle,
        last_settled_height=book.last_settled_height,
        last_report_digest=book.last_report_digest,
        minted=book.minted,
        bonded_meta_nodes=meta,
        audit_slash=state.params.audit_slash,
        suspend_debt_bps=state.params.suspend_debt_bps,
    )


__all__ = [
    "Payout",
    "epoch_of",
    "epoch_status",
    "first_reportable_height",
    "node_message",
    "payout",
    "quorum",
    "report_digest",
    "shape_problem",
    "split",
    "traffic_reward",
]


def traffic_reward(pool: OzonePool, consumed: int) -> int:
    """R = (S+P)·Y / (L+Y), rounded down and never more than the prepaid pool P holds."""
    if consumed <= 0:
        return 0
    r = (pool.deposits + pool.prepaid) * consumed // (pool.limit + consumed)
    return min(r, pool.prepaid)


def split(amount: int, weights: Iterable[tuple[str, int]]) -> dict[str, int]:
    """`amount` shared pro rata by weight, each share rounded down; zero weights get nothing."""
    weights = [(a, w) for a, w in weights if w > 0]
    total = sum(w for _, w in weights)
    if amount <= 0 or total == 0:
        return {}
    return {a: amount * w // total for a, w in weights}


@dataclass(frozen=True)
class Payout:
    """What a settled epoch pays: gross rewards per address (before debts), and how much of the
    traffic reward and of the mining reward that is (R paid from the prepaid pool, M minted)."""

    rewards: dict[str, int]
    from_traffic: int
    minted: int
    traffic_reward: int  # R before rounding


def payout(
    params: Params,
    pool: OzonePool,
    consumed: int,
    validator_power: Mapping[str, int],
    traffic_bytes: Mapping[str, int],
    resource_deposit: Mapping[str, int],
    signer_deposit: Mapping[str, int],
) -> Payout:
    """The split of one epoch's traffic reward and mining reward (module docstring)."""
    r = traffic_reward(pool, consumed)
    m = params.mining_reward
    rewards: dict[str, int] = {}
    paid = {"traffic": 0, "mining": 0}

    def give(source: str, shares: dict[str, int]) -> None:
        for address, amount in shares.items():
            if amount:
                rewards[address] = rewards.get(address, 0) + amount
                paid[source] += amount

    for source, total in (("traffic", r), ("mining", m)):
        give(
            source,
            split(total * params.reward_validators_bps // 10_000, validator_power.items()),
        )
        by = traffic_bytes if source == "traffic" else resource_deposit
        give(source, split(total * params.reward_resource_bps // 10_000, by.items()))
        give(source, split(total * params.reward_meta_bps // 10_000, signer_deposit.items()))
    return Payout(rewards, paid["traffic"], paid["mining"], r)
