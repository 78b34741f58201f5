"""A Byzantine validator, as a wrapper around the node's `Network` port: the node underneath is
the real one, honest in everything it signs through its engine; this wrapper signs second
versions of its messages with the same key — through `messages.sign_vote` /
`messages.sign_proposal` directly, bypassing the signer's double-sign guard, which is the
point — and decides who gets which. Nothing is persisted for a twin.

Used by the simulator (`bft_sim`, in process) and by the process tests (`faulty_validator.py`
wraps the real peer links with it).

- Each of this validator's own votes of the chosen types gets a twin: the same height, round
  and type, for another block — the twin proposal's when there is one, else a random hash.
- With `proposals`, each of its own fresh proposals gets a twin too: the same block one
  millisecond later, so both versions are valid blocks that honest validators may vote for.
- The first half of the peers (rounded down) gets the real message; the rest get the twin —
  and, with `then_real`, the real message right after it. Sending the real message there too
  makes evidence show up at every height in a short process test: with a pure split the two
  votes meet only if gossip relays one before the height decides, because votes for a finished
  height are dropped.
- A re-sent message (gossip) gets the same twin again, so every twin pair is one equivocation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from stratos.common.identity import Identity, address_of
from stratos.common.logging import get_logger
from stratos.consensus.bft.messages import (
    HASH_LEN,
    Message,
    Proposal,
    Vote,
    VoteType,
    sign_proposal,
    sign_vote,
)
from stratos.consensus.node.ports import Network
from stratos.v1 import ledger_pb2

log = get_logger(__name__)

MODES = {
    "all": frozenset(VoteType),
    "prevote": frozenset({VoteType.PREVOTE}),
    "precommit": frozenset({VoteType.PRECOMMIT}),
}


class Equivocating:
    """A `Network` that makes its validator equivocate (see the module docstring)."""

    def __init__(
        self,
        inner: Network,
        identity: Identity,
        chain_id: str,
        *,
        votes: frozenset[VoteType] = MODES["all"],
        proposals: bool = False,
        then_real: bool = False,
        random_hash: Callable[[], bytes] = lambda: os.urandom(HASH_LEN),
    ) -> None:
        self.inner, self.identity, self.chain_id = inner, identity, chain_id
        self.address = address_of(identity.public_bytes)
        self.votes, self.proposals, self.then_real = votes, proposals, then_real
        self.random_hash = random_hash
        self._twins: dict[tuple, Message] = {}  # (kind, height, round, type) → the twin sent
        self._twin_block: dict[bytes, bytes] = {}  # proposal hash ↔ its twin's, both ways
        self._height = 0
        log.warning("test_equivocating", votes=sorted(t.name for t in votes), proposals=proposals)

    # ---- Network: everything but broadcast passes through ---------------------------------

    def peers(self) -> Sequence[str]:
        return self.inner.peers()

    def is_connected(self, peer: str) -> bool:
        return self.inner.is_connected(peer)

    def send(self, peer: str, msg: Message) -> None:
        self.inner.send(peer, msg)

    def relay_tx(self, peer: str, raw: bytes) -> None:
        self.inner.relay_tx(peer, raw)

    def broadcast(self, msg: Message) -> None:
        twin = self._twin(msg)
        if twin is None:
            self.inner.broadcast(msg)
            return
        peers = list(self.inner.peers())
        half = len(peers) // 2
        for i, peer in enumerate(peers):
            if i >= half:
                self.inner.send(peer, twin)
                if not self.then_real:
                    continue
            self.inner.send(peer, msg)

    # ---- the twins ------------------------------------------------------------------------

    def _twin(self, msg: Message) -> Message | None:
        if isinstance(msg, Vote) and msg.validator == self.address and msg.type in self.votes:
            key: tuple = ("vote", msg.height, msg.round, msg.type, msg.block_hash)
        elif (
            isinstance(msg, Proposal)
            and self.proposals
            and msg.proposer == self.address
            and msg.pol_round == -1
        ):
            key = ("proposal", msg.height, msg.round, msg.block_hash)
        else:
            return None
        if msg.height > self._height:  # twins of finished heights are never re-sent
            self._height = msg.height
            self._twins = {k: v for k, v in self._twins.items() if k[1] >= msg.height}
        twin = self._twins.get(key)
        if twin is None:
            twin = self._twins[key] = self._make_twin(msg)
            log.info("test_equivocated", height=msg.height, round=msg.round, kind=key[0])
        return twin

    def _make_twin(self, msg: Vote | Proposal) -> Message:
        if isinstance(msg, Vote):
            other = self._twin_block.get(msg.block_hash) or self.random_hash()
            return sign_vote(self.identity, self.chain_id, msg.type, msg.height, msg.round, other)
        block = ledger_pb2.Block.FromString(msg.block)
        block.header.time_unix_ms += 1
        twin = sign_proposal(
            self.identity,
            self.chain_id,
            msg.height,
            msg.round,
            msg.pol_round,
            block.SerializeToString(deterministic=True),
        )
        self._twin_block[msg.block_hash] = twin.block_hash
        self._twin_block[twin.block_hash] = msg.block_hash
        return twin
