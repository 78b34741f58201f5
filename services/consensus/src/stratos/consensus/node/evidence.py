"""Turning detected equivocation into a Slash tx, so the evidence lands in a block and the
ledger slashes the offender's deposit.

The tx is signed with this node's key and pays the chain's minimum fee, so a validator's
address needs a funded account (the local mesh's genesis funds every validator). Every
validator that sees the equivocation reports it; the evidence bytes are canonical, so the
ledger slashes once and refuses the later copies (the mempool drops them after the block).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from blake3 import blake3

from stratos.common.errors import StratosError
from stratos.common.logging import get_logger
from stratos.consensus.bft.messages import Evidence
from stratos.consensus.ledger.tx import build_tx
from stratos.consensus.node.codec import evidence_to_bytes
from stratos.v1 import ledger_pb2

if TYPE_CHECKING:
    from stratos.consensus.node.runtime import Node

log = get_logger(__name__)


def report_evidence(node: Node, ev: Evidence) -> None:
    raw = evidence_to_bytes(ev)
    digest = blake3(raw).digest()
    if digest in node._reported or digest in node.state.evidence:
        return
    node._reported.add(digest)
    a = ev.a
    log.warning(
        "equivocation_detected",
        offender=a.validator,
        height=a.height,
        round=a.round,
        vote_type=a.type.name,
    )
    account = node.state.account(node.address)
    if account is None:
        log.warning(
            "evidence_not_submitted",
            reason=f"this node's account {node.address} holds no STOS to pay the slash fee",
        )
        return
    # The next nonce after this node's own txs already pending (earlier reports, say).
    nonce = node.mempool.next_nonce(node.address)
    tx = build_tx(
        node.identity,
        chain_id=node.state.chain_id,
        nonce=nonce,
        fee=node.state.params.min_fee,
        slash=ledger_pb2.Slash(evidence=raw),
    )
    try:
        node.mempool.add(tx)
    except StratosError as err:
        log.warning("evidence_not_submitted", reason=str(err))
        return
    log.info("evidence_submitted", offender=a.validator, nonce=nonce)
    node.relay_tx(tx)
    node.on_tx_added()
