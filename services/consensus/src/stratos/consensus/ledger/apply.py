"""The deterministic state machine: check a tx, apply a block.

Pure functions of (state, input): no clock, no randomness, no I/O, so every validator reaches the
same state and app hash from the same blocks.

Failed-tx semantics (as in Tendermint/Cosmos):
- `check_tx` refuses any tx that would not fully apply; the mempool admits only those, so a
  well-behaved proposer never puts a failing tx in a block.
- In `apply_block` a tx can still fail (a faulty proposer, or the state moved on). A tx that
  fails the *ante* step — malformed, oversized, bad signature, wrong chain, unknown account, wrong
  nonce, fee too low, cannot pay fee + amount — changes nothing: nobody can be charged for it.
  A tx that passes the ante step but whose message is refused (e.g. registering twice) is still
  charged its fee and consumes its nonce; only the message's effects are dropped. Either way its
  TxResult carries the code and sentence, and the block stays valid.
"""

from __future__ import annotations

from stratos.common.stos import format_stos
from stratos.consensus.ledger.apphash import app_hash
from stratos.consensus.ledger.block import InvalidBlock, block_hash, validate_block
from stratos.consensus.ledger.msgs import HANDLERS, Ctx, EvidenceVerifier, spend
from stratos.consensus.ledger.overlay import Working
from stratos.consensus.ledger.state import Account, LedgerState
from stratos.consensus.ledger.tx import DecodedTx, TxCode, TxRejected, decode_tx
from stratos.v1 import ledger_pb2 as pb


def _ante(w: Working, ctx: Ctx, chain_id: str, d: DecodedTx, *, verify_sig: bool) -> None:
    """Authenticate the tx and charge its fee and nonce, or raise without touching `w`."""
    body = d.body
    if body.chain_id != chain_id:
        raise TxRejected(
            TxCode.WRONG_CHAIN, f"the tx is for chain {body.chain_id!r}; this chain is {chain_id!r}"
        )
    if verify_sig and not d.verify_sig():
        raise TxRejected(TxCode.BAD_SIGNATURE, "the tx signature does not match its public key")
    acct = w.account(d.sender)
    if acct is None:
        raise TxRejected(
            TxCode.UNKNOWN_ACCOUNT, f"the account {d.sender} is unknown: it has never held STOS"
        )
    if body.nonce != acct.nonce:
        raise TxRejected(TxCode.BAD_NONCE, f"wrong nonce: expected {acct.nonce}, got {body.nonce}")
    if body.fee < ctx.params.min_fee:
        raise TxRejected(
            TxCode.FEE_TOO_LOW,
            f"the fee {format_stos(body.fee)} STOS is below the minimum "
            f"{format_stos(ctx.params.min_fee)} STOS",
        )
    needed = body.fee + spend(d.kind, getattr(body, d.kind))
    if acct.balance < needed:
        raise TxRejected(
            TxCode.INSUFFICIENT_FUNDS,
            f"insufficient funds: the balance is {format_stos(acct.balance)} STOS, "
            f"needed {format_stos(needed)} STOS (including the fee)",
        )
    # the constructor, not dataclasses.replace: this runs for every tx, several times per node
    w.set_account(
        d.sender, Account(balance=acct.balance - body.fee, nonce=acct.nonce + 1, ozone=acct.ozone)
    )
    w.add_fees(body.fee)


def execute_tx(
    w: Working, ctx: Ctx, raw: bytes, *, charge_failed: bool, verify_sig: bool = True
) -> tuple[pb.TxResult, DecodedTx | None]:
    """Run one tx on `w`. On success its effects are committed into `w`; when its message is
    refused, only the fee and nonce are, and only if `charge_failed` (block delivery)."""
    tx_w = Working(w)
    try:
        d = decode_tx(
            raw,
            max_tx_bytes=ctx.params.max_tx_bytes,
            max_report_bytes=ctx.params.max_report_bytes,
        )
        _ante(tx_w, ctx, w.base.chain_id, d, verify_sig=verify_sig)
    except TxRejected as rej:
        return pb.TxResult(code=rej.code, log=rej.log), None
    msg_w = Working(tx_w)
    try:
        out = HANDLERS[d.kind](msg_w, ctx, d.sender, getattr(d.body, d.kind))
    except TxRejected as rej:
        if charge_failed:
            tx_w.commit()
        return pb.TxResult(code=rej.code, log=rej.log), d
    msg_w.commit()
    tx_w.commit()
    if isinstance(out, pb.TxResult):  # a handler with more to say than a sentence
        out.code = TxCode.OK
        return out, d
    return pb.TxResult(code=TxCode.OK, log=out), d


def check_tx(
    state: LedgerState, raw: bytes, *, verify_evidence: EvidenceVerifier | None = None
) -> pb.TxResult:
    """Would `raw` fully apply in the next block on top of `state`? code 0 = yes; else the log
    says why not. Nothing is changed."""
    ctx = Ctx(height=state.height + 1, params=state.params, verify_evidence=verify_evidence)
    result, _ = execute_tx(Working(state), ctx, raw, charge_failed=False)
    return result


def _release_unbonded(w: Working, state: LedgerState, height: int) -> None:
    """Return deposits whose unbonding delay has passed (at the start of `height`), less any
    slashing debt rewards have not paid (that part goes to the fee pool)."""
    for address, node in sorted(state.nodes.items()):
        if not node.bonded and node.unbonding_until_height <= height:
            w.set_node(address, None)
            owed = min(node.debt, node.deposit)  # slashing not yet paid from rewards
            w.add_fees(owed)
            w.credit(address, node.deposit - owed)


def apply_block(
    state: LedgerState, block: pb.Block, *, verify_evidence: EvidenceVerifier | None = None
) -> tuple[LedgerState, list[pb.TxResult], bytes]:
    """Apply a block on top of `state`: (new state, one result per tx, new app hash).
    Raises InvalidBlock if the block cannot follow `state` at all."""
    validate_block(state, block)
    height = block.header.height
    ctx = Ctx(height=height, params=state.params, verify_evidence=verify_evidence)
    w = Working(state)
    _release_unbonded(w, state, height)
    results = [execute_tx(w, ctx, raw, charge_failed=True)[0] for raw in block.txs]
    new_state = w.materialize(
        height=height,
        time_unix_ms=block.header.time_unix_ms,
        last_block_hash=block_hash(block.header),
    )
    return new_state, results, app_hash(new_state)


def verify_proposal(
    state: LedgerState, block: pb.Block, *, verify_evidence: EvidenceVerifier | None = None
) -> tuple[LedgerState, list[pb.TxResult], bytes]:
    """`apply_block` for a proposal an honest validator is asked to vote for: also raises
    InvalidBlock when any tx would fail, since check_tx keeps those out of honest proposals.
    The result can be kept and reused when the block commits."""
    new_state, results, new_hash = apply_block(state, block, verify_evidence=verify_evidence)
    for i, result in enumerate(results):
        if result.code != TxCode.OK:
            raise InvalidBlock(f"block {block.header.height} tx {i} fails: {result.log}")
    return new_state, results, new_hash
