"""What each message does to the state, one handler per `TxBody.msg` kind.

Handlers run after the ante step (signature, nonce, fee, and funds for `spend()` are already
checked and the fee charged), inside their own overlay: raising TxRejected drops every effect of
the message. Adding a message kind means one entry in `SPEND` and one in `HANDLERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from blake3 import blake3

from stratos.common.errors import StratosError
from stratos.common.identity import address_of, verify
from stratos.common.stos import format_stos
from stratos.consensus.ledger import epochs
from stratos.consensus.ledger.overlay import Working
from stratos.consensus.ledger.pricing import OzonePool, after_prepay
from stratos.consensus.ledger.state import (
    ROLE_NAMES,
    Account,
    EpochBook,
    LedgerState,
    NodeRecord,
    Params,
)
from stratos.consensus.ledger.tx import TxCode, TxRejected
from stratos.v1 import ledger_pb2 as pb

EvidenceVerifier = Callable[[bytes, LedgerState], str]
"""Checks opaque evidence against the state before the block; returns the offender's address or
raises (InvalidArgument / ValueError) with the reason. Supplied by the consensus engine."""


@dataclass(frozen=True)
class Ctx:
    height: int  # the block being applied (committed height + 1 when checking)
    params: Params
    verify_evidence: EvidenceVerifier | None = None


def _reject(log: str) -> TxRejected:
    return TxRejected(TxCode.REJECTED, log)


def transfer(w: Working, ctx: Ctx, sender: str, m: pb.Transfer) -> str:
    w.debit(sender, m.amount)
    w.credit(m.to, m.amount)
    return f"sent {format_stos(m.amount)} STOS to {m.to}"


def register_node(w: Working, ctx: Ctx, sender: str, m: pb.RegisterNode) -> str:
    role = ROLE_NAMES[m.role]
    existing = w.node(sender)
    if existing is not None:
        raise _reject(f"{sender} is already registered as a {ROLE_NAMES[existing.role]} node")
    least = ctx.params.min_deposit(m.role)
    if m.deposit < least:
        raise _reject(
            f"a deposit of {format_stos(m.deposit)} STOS is below the minimum of "
            f"{format_stos(least)} STOS for a {role} node"
        )
    w.debit(sender, m.deposit)
    w.set_node(sender, NodeRecord(role=m.role, deposit=m.deposit))
    if m.role == pb.NODE_ROLE_RESOURCE:
        p = w.pool
        w.set_pool(OzonePool(p.deposits + m.deposit, p.prepaid, p.limit))
    return f"registered a {role} node with {format_stos(m.deposit)} STOS"


def unbond(w: Working, ctx: Ctx, sender: str, m: pb.Unbond) -> str:
    node = w.node(sender)
    if node is None:
        raise _reject(f"no node is registered at {sender}")
    if not node.bonded:
        raise _reject(
            f"the node {sender} is already unbonding until height {node.unbonding_until_height}"
        )
    until = ctx.height + ctx.params.unbonding_blocks
    w.set_node(sender, replace(node, unbonding_until_height=until))
    if node.role == pb.NODE_ROLE_RESOURCE:  # an unbonding deposit no longer backs ozone
        p = w.pool
        w.set_pool(OzonePool(p.deposits - node.deposit, p.prepaid, p.limit))
    return f"unbonding {format_stos(node.deposit)} STOS; released at height {until}"


def prepay_ozone(w: Working, ctx: Ctx, sender: str, m: pb.PrepayOzone) -> str:
    pool, bought = after_prepay(w.pool, m.amount)
    if bought == 0:
        raise _reject(
            f"prepaying {format_stos(m.amount)} STOS buys no ozone at the current price; "
            "prepay more"
        )
    w.debit(sender, m.amount)
    acct = w.account(sender)
    w.set_account(sender, replace(acct, ozone=acct.ozone + bought))
    w.set_pool(pool)
    return f"bought {bought} ozone for {format_stos(m.amount)} STOS"


def _bonded_meta(w: Working) -> dict[str, NodeRecord]:
    """Bonded meta nodes by address: who may sign a report (O(registered nodes))."""
    nodes = {a: w.node(a) for a in w.node_addresses()}
    return {a: n for a, n in nodes.items() if n and n.role == pb.NODE_ROLE_META and n.bonded}


def _signers(ctx: Ctx, chain_id: str, m: pb.EpochReport, meta: dict[str, NodeRecord]) -> list[str]:
    """The distinct bonded meta nodes whose signature over the report's digest verifies."""
    digest = epochs.report_digest(chain_id, m)
    signers: list[str] = []
    for sig in m.signatures:
        who = address_of(sig.public_key)
        if who not in meta:
            raise _reject(f"the report is signed by {who}, which is not a bonded meta node")
        if who in signers:
            raise _reject(f"the report carries two signatures from {who}")
        if not verify(sig.public_key, sig.signature, digest):
            raise _reject(f"the signature of {who} does not match the report")
        signers.append(who)
    need = epochs.quorum(len(meta))
    if len(signers) < need:
        raise _reject(
            f"{len(signers)} of {len(meta)} bonded meta nodes signed the report; "
            f"at least {need} must"
        )
    return signers


def _charge(w: Working, m: pb.EpochReport) -> tuple[int, int]:
    """Debit each payer's ozone (at most what it holds): (ozone debited, ozone short)."""
    consumed = short = 0
    for entry in m.payers:
        acct = w.account(entry.payer) or Account()
        taken = min(acct.ozone, entry.ozone)
        short += entry.ozone - taken
        if taken:
            w.set_account(entry.payer, replace(acct, ozone=acct.ozone - taken))
        consumed += taken
    return consumed, short


def _pay(w: Working, address: str, amount: int) -> int:
    """Credit a reward, paying the node's debt first; returns the part that paid debt."""
    node = w.node(address)
    paid = min(node.debt, amount) if node is not None else 0
    if paid:
        w.set_node(address, replace(node, debt=node.debt - paid))
        w.add_fees(paid)
    if amount - paid:
        w.credit(address, amount - paid)
    return paid


def epoch_report(w: Working, ctx: Ctx, sender: str, m: pb.EpochReport) -> pb.TxResult:
    """Settle epoch `m.epoch` (module docstring of `epochs`); the result's credits say what it
    paid and slashed each address."""
    meta = _bonded_meta(w)
    if sender not in meta:
        raise _reject("only a bonded meta-service node can submit an epoch report")
    book, n = w.epochs, ctx.params.epoch_blocks
    if m.epoch < book.next_to_settle:
        raise _reject(f"epoch {m.epoch} is already settled")
    if m.epoch > book.next_to_settle:
        raise _reject(f"epoch {m.epoch} cannot settle before epoch {book.next_to_settle}")
    opens = epochs.first_reportable_height(m.epoch, n)
    if ctx.height < opens:
        raise _reject(f"epoch {m.epoch} ends at height {opens - 1}; report it from height {opens}")
    signers = _signers(ctx, w.base.chain_id, m, meta)
    traffic: dict[str, int] = {}
    slashes: dict[str, int] = {}
    slashed = unpaid = 0
    for t in m.traffic:
        node = w.node(t.node)
        if node is None or node.role != pb.NODE_ROLE_RESOURCE:
            # Not (or no longer) a resource node: its bytes earn nothing. Refusing the report
            # would stall every later epoch on one node's registration.
            unpaid += 1
            continue
        traffic[t.node] = t.bytes
        if t.audits_failed:
            slash_amount = t.audits_failed * ctx.params.audit_slash
            w.set_node(t.node, replace(node, debt=node.debt + slash_amount))
            slashes[t.node] = slashes.get(t.node, 0) + slash_amount
            slashed += 1
    pool = w.pool
    consumed, short = _charge(w, m)
    resource = {
        a: r.deposit
        for a in w.node_addresses()
        if (r := w.node(a)) is not None
        and r.role == pb.NODE_ROLE_RESOURCE
        and r.bonded
        and not r.suspended(ctx.params)
    }
    out = epochs.payout(
        ctx.params,
        pool,
        consumed,
        {a: v.power for a, v in sorted(w.base.validators.items())},
        traffic,
        resource,
        {a: meta[a].deposit for a in sorted(signers)},
    )
    w.set_pool(OzonePool(pool.deposits, pool.prepaid - out.from_traffic, pool.limit + consumed))
    debt_paid = {a: _pay(w, a, amount) for a, amount in sorted(out.rewards.items())}
    w.set_epochs(
        EpochBook(
            next_to_settle=m.epoch + 1,
            minted=book.minted + out.minted,
            last_settled_height=ctx.height,
            last_report_digest=epochs.report_digest(w.base.chain_id, m),
        )
    )
    moved = sum(traffic.values())
    log = (
        f"settled epoch {m.epoch}: {moved} bytes at {len(traffic)} nodes, {consumed} ozone "
        f"used, {format_stos(out.from_traffic)} STOS traffic reward, "
        f"{format_stos(out.minted)} STOS mined, {slashed} nodes slashed"
    )
    if short:
        log += f"; payers lacked {short} of the ozone charged"
    if unpaid:
        log += f"; {unpaid} listed nodes are not registered resource nodes and earn nothing"
    credits = [
        pb.Credit(
            address=a,
            amount=out.rewards.get(a, 0),
            debt_paid=debt_paid.get(a, 0),
            slashed=slashes.get(a, 0),
        )
        for a in sorted(out.rewards.keys() | slashes.keys())
    ]
    return pb.TxResult(log=log, credits=credits)


def slash(w: Working, ctx: Ctx, sender: str, m: pb.Slash) -> str:
    if ctx.verify_evidence is None:
        raise TxRejected(TxCode.NOT_ENABLED, "this node cannot verify evidence, so cannot slash")
    digest = blake3(m.evidence).digest()
    if w.has_evidence(digest):
        raise _reject("this evidence was already committed")
    try:
        offender = ctx.verify_evidence(m.evidence, w.base)
    except (StratosError, ValueError) as err:
        raise _reject(f"the evidence is invalid: {err}") from None
    bps = ctx.params.slash_fraction_bps
    taken = 0
    val = w.validator(offender)
    if val is not None and val.deposit:
        cut = val.deposit * bps // 10_000
        w.set_validator(offender, replace(val, deposit=val.deposit - cut))
        taken += cut
    node = w.node(offender)
    if node is not None and node.deposit:
        cut = node.deposit * bps // 10_000
        w.set_node(offender, replace(node, deposit=node.deposit - cut))
        if node.role == pb.NODE_ROLE_RESOURCE and node.bonded:
            p = w.pool
            w.set_pool(OzonePool(p.deposits - cut, p.prepaid, p.limit))
        taken += cut
    w.add_evidence(digest)
    # Slashed STOS goes to the fee pool (not burned) so the supply stays an invariant.
    w.add_fees(taken)
    return f"slashed {format_stos(taken)} STOS from {offender}"


def spend(kind: str, msg: object) -> int:
    """nstos the message takes from the sender's balance besides the fee."""
    return SPEND.get(kind, lambda _m: 0)(msg)


SPEND: dict[str, Callable[[object], int]] = {
    "transfer": lambda m: m.amount,
    "register_node": lambda m: m.deposit,
    "prepay_ozone": lambda m: m.amount,
}

# A handler answers its result sentence, or a TxResult when it has more to say (credits).
HANDLERS: dict[str, Callable[[Working, Ctx, str, object], str | pb.TxResult]] = {
    "transfer": transfer,
    "register_node": register_node,
    "unbond": unbond,
    "prepay_ozone": prepay_ozone,
    "epoch_report": epoch_report,
    "slash": slash,
}
