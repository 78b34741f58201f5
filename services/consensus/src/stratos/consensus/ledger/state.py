"""The ledger state as plain immutable values.

A `LedgerState` is the whole replicated state after some height: accounts, nodes, validators,
the ozone pool and the fee pool. It is never mutated; `apply.apply_block` builds the next one.
Accounts and nodes are `HashedTable`s, so the next state shares every bucket a block did not
touch and building it costs O(entries the block changed).
Keeping it a value (no I/O, no clocks) is what lets every validator, the mempool and the tests
compute the same state and app hash (`apphash.app_hash`) from the same blocks.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType

from stratos.common.errors import DataLoss
from stratos.consensus.ledger.pricing import OzonePool
from stratos.consensus.ledger.table import Codec, HashedTable
from stratos.v1 import ledger_pb2 as pb

_EMPTY_POOL = OzonePool(0, 0, 0)
ROLE_NAMES = {pb.NODE_ROLE_RESOURCE: "resource", pb.NODE_ROLE_META: "meta"}


@dataclass(frozen=True)
class Params:
    """Chain parameters, fixed at genesis. Amounts in nstos."""

    min_fee: int = 1_000  # lowest fee a tx may carry
    max_tx_bytes: int = 4_096  # a larger tx is refused
    max_block_txs: int = 2_000  # txs per block
    max_block_bytes: int = 2 * 1024 * 1024  # sum of tx sizes per block
    unbonding_blocks: int = 100  # blocks between Unbond and the deposit's release
    min_deposit_resource: int = 500 * 10**9  # least deposit of a resource node
    min_deposit_meta: int = 1_000 * 10**9  # least deposit of a meta-service node
    initial_ozone_limit: int = 10**15  # L at genesis, ozone units
    slash_fraction_bps: int = 500  # share of a deposit taken per offence, in 1/10000
    # Proof-of-Traffic (ledger/epochs.py): an epoch is `epoch_blocks` blocks; its report is one
    # tx of at most `max_report_bytes`; each settled epoch mints `mining_reward` and splits it,
    # with the traffic reward, between validators, resource nodes and meta nodes by the three
    # shares (in 1/10000, summing to 10000); each failed audit adds `audit_slash` to a node's
    # debt, and a node whose debt reaches `suspend_debt_bps` of its deposit is suspended.
    epoch_blocks: int = 100
    max_report_bytes: int = 1024 * 1024
    mining_reward: int = 10 * 10**9
    reward_validators_bps: int = 2_000
    reward_resource_bps: int = 6_000
    reward_meta_bps: int = 2_000
    audit_slash: int = 1 * 10**9
    suspend_debt_bps: int = 5_000

    def min_deposit(self, role: int) -> int:
        return self.min_deposit_resource if role == pb.NODE_ROLE_RESOURCE else self.min_deposit_meta

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class Account:
    balance: int = 0
    nonce: int = 0
    ozone: int = 0


@dataclass(frozen=True)
class NodeRecord:
    role: int  # pb.NodeRole
    deposit: int
    unbonding_until_height: int = 0  # 0 while bonded
    debt: int = 0  # nstos of audit slashing not yet paid from rewards (or, at release, deposit)

    @property
    def bonded(self) -> bool:
        return self.unbonding_until_height == 0

    def suspended(self, params: Params) -> bool:
        """Slashed past the threshold: the index places no new data on it."""
        return self.debt > 0 and self.debt * 10_000 >= self.deposit * params.suspend_debt_bps


_U64X3 = struct.Struct(">QQQ")
_U64X4 = struct.Struct(">QQQQ")


def _unpack(fmt: struct.Struct, raw: bytes, what: str) -> tuple[int, ...]:
    if len(raw) != fmt.size:
        raise DataLoss(f"a stored {what} record has {len(raw)} bytes, not {fmt.size}")
    return fmt.unpack(raw)


# Canonical bytes of an account / a node: three / four big-endian u64 (struct.error on a negative or
# too-large value: a bug, never silently wrapped).
ACCOUNTS: Codec[Account] = Codec(
    b"acct",
    lambda a: _U64X3.pack(a.balance, a.nonce, a.ozone),
    lambda raw: Account(*_unpack(_U64X3, raw, "account")),
)
NODES: Codec[NodeRecord] = Codec(
    b"node",
    lambda n: _U64X4.pack(n.role, n.deposit, n.unbonding_until_height, n.debt),
    lambda raw: NodeRecord(*_unpack(_U64X4, raw, "node")),
)


@dataclass(frozen=True)
class Validator:
    public_key: bytes
    power: int
    deposit: int = 0  # self-bond from genesis; what slashing takes from


def _frozen(d: Mapping | None = None) -> Mapping:
    return MappingProxyType(dict(d or {}))


def _accounts() -> HashedTable[Account]:
    return HashedTable.empty(ACCOUNTS)


def _nodes() -> HashedTable[NodeRecord]:
    return HashedTable.empty(NODES)


@dataclass(frozen=True)
class EpochBook:
    """Where Proof-of-Traffic settlement stands: epochs below `next_to_settle` are settled, each
    exactly once, in order; `minted` is every nstos mining rewards created since genesis."""

    next_to_settle: int = 0
    minted: int = 0
    last_settled_height: int = 0
    last_report_digest: bytes = b""


@dataclass(frozen=True, eq=False)
class LedgerState:
    """The replicated state after `height` (0 = genesis)."""

    chain_id: str
    params: Params
    height: int = 0
    time_unix_ms: int = 0  # time of the last block (genesis time at height 0)
    last_block_hash: bytes = b""
    accounts: HashedTable[Account] = field(default_factory=_accounts)
    nodes: HashedTable[NodeRecord] = field(default_factory=_nodes)
    validators: Mapping[str, Validator] = field(default_factory=_frozen)
    pool: OzonePool = _EMPTY_POOL
    fee_pool: int = 0
    evidence: frozenset[bytes] = frozenset()  # hashes of evidence already committed
    epochs: EpochBook = EpochBook()

    def __post_init__(self) -> None:
        for name, codec in (("accounts", ACCOUNTS), ("nodes", NODES)):
            value = getattr(self, name)
            if not isinstance(value, HashedTable):  # a plain mapping (genesis, tests)
                object.__setattr__(self, name, HashedTable.from_items(codec, value.items()))
        if not isinstance(self.validators, MappingProxyType):
            object.__setattr__(self, "validators", _frozen(self.validators))

    def account(self, address: str) -> Account | None:
        return self.accounts.get(address)

    def total_supply(self) -> int:
        """Every nstos in existence: balances, deposits, prepaid ozone and the fee pool. Equal to
        the genesis supply plus `epochs.minted`: nothing else creates or destroys STOS."""
        return (
            sum(a.balance for a in self.accounts.values())
            + sum(n.deposit for n in self.nodes.values())
            + sum(v.deposit for v in self.validators.values())
            + self.pool.prepaid
            + self.fee_pool
        )

    def validator_set(self) -> list[tuple[str, bytes, int]]:
        """(address, public key, power), sorted by address: the order every node agrees on."""
        return [(a, v.public_key, v.power) for a, v in sorted(self.validators.items())]
