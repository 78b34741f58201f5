"""Turning detected equivocation into a Slash tx, so the evidence lands in a block and the
ledger slashes the offender's deposit.

The tx is signed with this node's key and pays the chain's minimum fee, so a validator's
address needs a funded account (the local mesh's genesis funds every validator). Every
validator that sees the equivocation reports it; the evidence bytes are canonical, so the
ledger slashes once and refuses the later copies (the mempool drops them after the block).
"""

from __future__ import annotations

from blake3 import blake3

from stratos.common.identity import Identity, address_of
from stratos.common.logging import get_logger
from stratos.consensus.bft.messages import Evidence
from stratos.consensus.ledger.state import LedgerState
from stratos.consensus.ledger.tx import build_tx
from stratos.consensus.node.codec import evidence_to_bytes
from stratos.v1 import ledger_pb2

log = get_logger(__name__)


class SlashReporter:
    """The node's `EvidenceReporter`: one Slash tx per distinct equivocation."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.address = address_of(identity.public_bytes)
        self._reported: set[bytes] = set()  # digests of the evidence already turned into a tx

    def report(self, evidence: Evidence, state: LedgerState, nonce: int) -> bytes | None:
        raw = evidence_to_bytes(evidence)
        digest = blake3(raw).digest()
        if digest in self._reported or digest in state.evidence:
            return None
        self._reported.add(digest)
        a = evidence.a
        log.warning(
            "equivocation_detected",
            offender=a.validator,
            height=a.height,
            round=a.round,
            vote_type=a.type.name,
        )
        if state.account(self.address) is None:
            log.warning(
                "evidence_not_submitted",
                reason=f"this node's account {self.address} holds no STOS to pay the slash fee",
            )
            return None
        return build_tx(
            self.identity,
            chain_id=state.chain_id,
            nonce=nonce,
            fee=state.params.min_fee,
            slash=ledger_pb2.Slash(evidence=raw),
        )
