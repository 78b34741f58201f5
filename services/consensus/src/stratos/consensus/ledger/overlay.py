"""A copy-on-write view over a ledger state.

Applying a tx must be all-or-nothing at two levels: the fee and nonce (kept even when the message
fails) and the message's own effects (dropped when it fails). Layered overlays give both without
copying the state per tx: writes land in the top layer, reads fall through, and a layer is either
committed into its parent or thrown away. The mempool keeps one long-lived overlay over the
committed state so pending txs from one sender are checked in nonce order. A node deleted in
an overlay is written as None.
"""

from __future__ import annotations

from dataclasses import replace

from stratos.consensus.ledger.pricing import OzonePool
from stratos.consensus.ledger.state import Account, EpochBook, LedgerState, NodeRecord, Validator


class Working:
    """Reads fall through to `parent`; writes stay here until `commit()`."""

    __slots__ = (
        "_accounts",
        "_epochs",
        "_evidence",
        "_fee_pool",
        "_nodes",
        "_pool",
        "_validators",
        "base",
        "parent",
    )

    def __init__(self, parent: LedgerState | Working) -> None:
        self.parent = parent
        self.base: LedgerState = parent if isinstance(parent, LedgerState) else parent.base
        self._accounts: dict[str, Account] = {}
        self._nodes: dict[str, NodeRecord | None] = {}
        self._validators: dict[str, Validator] = {}
        self._evidence: set[bytes] = set()
        self._pool: OzonePool | None = None
        self._fee_pool: int | None = None
        self._epochs: EpochBook | None = None

    # Reads ---------------------------------------------------------------------------------
    def account(self, address: str) -> Account | None:
        if address in self._accounts:
            return self._accounts[address]
        return self._read_parent("account", address)

    def node(self, address: str) -> NodeRecord | None:
        if address in self._nodes:
            return self._nodes[address]
        return self._read_parent("node", address)

    def validator(self, address: str) -> Validator | None:
        if address in self._validators:
            return self._validators[address]
        return self._read_parent("validator", address)

    def has_evidence(self, digest: bytes) -> bool:
        if digest in self._evidence:
            return True
        if isinstance(self.parent, LedgerState):
            return digest in self.parent.evidence
        return self.parent.has_evidence(digest)

    @property
    def pool(self) -> OzonePool:
        return self._pool if self._pool is not None else self.parent.pool

    @property
    def fee_pool(self) -> int:
        return self._fee_pool if self._fee_pool is not None else self.parent.fee_pool

    def node_addresses(self) -> list[str]:
        """Every registered node's address, this overlay's changes included, sorted."""
        seen: set[str] = set(self.base.nodes)
        layer: LedgerState | Working = self
        while isinstance(layer, Working):
            seen.update(layer._nodes)
            layer = layer.parent
        return sorted(a for a in seen if self.node(a) is not None)

    @property
    def epochs(self) -> EpochBook:
        return self._epochs if self._epochs is not None else self.parent.epochs

    def _read_parent(self, kind: str, address: str):
        if isinstance(self.parent, LedgerState):
            return getattr(self.parent, kind + "s").get(address)
        return getattr(self.parent, kind)(address)

    # Writes --------------------------------------------------------------------------------
    def set_account(self, address: str, account: Account) -> None:
        self._accounts[address] = account

    def credit(self, address: str, amount: int) -> None:
        acct = self.account(address) or Account()
        self._accounts[address] = Account(
            balance=acct.balance + amount, nonce=acct.nonce, ozone=acct.ozone
        )

    def debit(self, address: str, amount: int) -> None:
        acct = self.account(address)
        if acct is None or acct.balance < amount:  # handlers check funds first: this is a bug
            raise AssertionError(f"debit of {amount} from {address} would go negative")
        self._accounts[address] = Account(
            balance=acct.balance - amount, nonce=acct.nonce, ozone=acct.ozone
        )

    def set_node(self, address: str, node: NodeRecord | None) -> None:
        self._nodes[address] = node

    def set_validator(self, address: str, validator: Validator) -> None:
        self._validators[address] = validator

    def add_evidence(self, digest: bytes) -> None:
        self._evidence.add(digest)

    def set_pool(self, pool: OzonePool) -> None:
        self._pool = pool

    def add_fees(self, amount: int) -> None:
        self._fee_pool = self.fee_pool + amount

    def set_epochs(self, epochs: EpochBook) -> None:
        self._epochs = epochs

    # Layers --------------------------------------------------------------------------------
    def commit(self) -> None:
        """Push this layer's writes into the parent overlay."""
        parent = self.parent
        if isinstance(parent, LedgerState):
            raise TypeError("the bottom overlay is turned into a state with materialize()")
        parent._accounts.update(self._accounts)
        parent._nodes.update(self._nodes)
        parent._validators.update(self._validators)
        parent._evidence |= self._evidence
        if self._pool is not None:
            parent._pool = self._pool
        if self._fee_pool is not None:
            parent._fee_pool = self._fee_pool
        if self._epochs is not None:
            parent._epochs = self._epochs

    def materialize(self, **header: object) -> LedgerState:
        """The bottom layer merged into a new state, with `header` fields (height, time...)."""
        if not isinstance(self.parent, LedgerState):
            raise TypeError("only the bottom overlay can be materialized")
        base = self.parent
        # O(what changed): the tables copy only touched buckets, and the small maps are copied
        # only when written
        return replace(
            base,
            accounts=base.accounts.updated(self._accounts),
            nodes=base.nodes.updated(self._nodes),
            validators={**base.validators, **self._validators}
            if self._validators
            else base.validators,
            evidence=base.evidence | self._evidence if self._evidence else base.evidence,
            pool=self.pool,
            fee_pool=self.fee_pool,
            epochs=self.epochs,
            **header,
        )
