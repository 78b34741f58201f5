"""Test hook only: a Byzantine validator that equivocates, so the process-level tests can check
that honest validators never fork, that the evidence lands and that the deposit is slashed.

With `STRATOS_TEST_EQUIVOCATE=1` (or `prevote` / `precommit` for one vote type only), every
vote this validator's engine broadcasts gets a twin: the same height, round and type, signed
with this validator's key for a random block hash — through `messages.sign_vote` directly,
bypassing `bft_signer`'s double-sign guard, which is the point. The first half of the peer links
gets the real vote; the other half gets the twin first — so for them the equivocator's first
vote, the one counted, is for a block nobody proposed (split brain) — and the real vote right
after it. Sending the real vote there too makes the evidence show up at every height: with a
pure split the two votes meet only if gossip relays one before the height decides, because
votes for a finished height are dropped. Nothing is persisted for the twin. Never set it outside
tests.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from stratos.common.logging import get_logger
from stratos.consensus.bft.messages import HASH_LEN, Message, Vote, VoteType, sign_vote
from stratos.consensus.bft.wire import to_proto

if TYPE_CHECKING:
    from stratos.consensus.node.runtime import Node

log = get_logger(__name__)

EQUIVOCATE_ENV = "STRATOS_TEST_EQUIVOCATE"
_MODES = {
    "1": frozenset(VoteType),
    "prevote": frozenset({VoteType.PREVOTE}),
    "precommit": frozenset({VoteType.PRECOMMIT}),
}


def equivocating_types() -> frozenset[VoteType]:
    """The vote types to equivocate on: empty (the default) when the hook is off."""
    mode = os.environ.get(EQUIVOCATE_ENV, "").strip().lower()
    types = _MODES.get(mode, frozenset())
    if types:
        log.warning("test_equivocating", env=EQUIVOCATE_ENV, votes=sorted(t.name for t in types))
    return types


def broadcast(node: Node, msg: Message, types: frozenset[VoteType]) -> None:
    """`node.broadcast(msg)`, except that one of this validator's votes of `types` gets a
    conflicting twin, sent ahead of it to half of the peers."""
    if not isinstance(msg, Vote) or msg.type not in types or msg.validator != node.address:
        node.broadcast(msg)
        return
    twin = sign_vote(
        node.identity, node.state.chain_id, msg.type, msg.height, msg.round, os.urandom(HASH_LEN)
    )
    log.info("test_equivocated", height=msg.height, round=msg.round, vote_type=msg.type.name)
    # without per-peer links (an in-process test), everyone gets both votes
    links = node.peer_links
    if not links:
        node.broadcast(msg)
        node.broadcast(twin)
        return
    real, fake = to_proto(msg), to_proto(twin)
    half = (len(links) + 1) // 2
    for i, link in enumerate(links):
        if i >= half:
            link.send(fake)
        link.send(real)
