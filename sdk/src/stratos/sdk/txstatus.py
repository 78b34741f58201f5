"""Following a tx across the validators, and choosing the next nonce: the pure rules behind
`ChainClient.send`, `ChainClient.tx` and `stratos tx`.

Each validator knows only its own mempool, and txs reach the other mempools by an asynchronous
relay, so no single validator's answer is the whole truth:

- A tx's state is the union of the answers (`summarize`): **committed** when any validator holds
  it in a committed block (there is one history); else **pending** on the validators whose
  mempool holds it; else **dropped** (it stopped applying, with the reason); else **unknown** to
  every validator that answered.
- An account's next nonce is the largest `pending_nonce` any validator reports (`next_nonce`),
  and the tx goes first to a validator that reported it (`submit_order`): that one holds every
  pending predecessor, so it admits the tx even while the others have not seen them yet.

`TxPending` is what `send` raises when its tx was submitted but is not committed when the wait
ends: the tx was neither lost nor refused and may still commit, so the caller is told exactly
that, with the hash to follow — never an error that reads as "nothing happened".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stratos.common.errors import InvalidArgument, StratosError
from stratos.common.identity import address_of
from stratos.common.shown import enum_name
from stratos.common.stos import format_stos, is_tx_hash, tx_hash
from stratos.v1 import consensus_pb2, ledger_pb2

COMMITTED, PENDING, DROPPED, UNKNOWN = "committed", "pending", "dropped", "unknown"
_STATES = {
    consensus_pb2.TX_STATE_COMMITTED: COMMITTED,
    consensus_pb2.TX_STATE_PENDING: PENDING,
    consensus_pb2.TX_STATE_DROPPED: DROPPED,
    consensus_pb2.TX_STATE_UNKNOWN: UNKNOWN,
}


def check_tx_hash(value: str) -> str:
    """`value` as a tx hash (surrounding space and upper case forgiven), or one sentence."""
    h = value.strip().lower() if isinstance(value, str) else value
    if not is_tx_hash(h):
        raise InvalidArgument(
            f"{value!r} is not a tx hash; a tx hash is 64 hex characters, "
            "as 'stratos send' prints it"
        )
    return h


@dataclass(frozen=True)
class TxStatus:
    """One tx as the validators that answered see it (addresses are validator endpoints)."""

    tx_hash: str
    state: str  # COMMITTED, PENDING, DROPPED or UNKNOWN
    height: int | None = None  # committed: its block; dropped: the block after which it was
    index: int | None = None  # committed: its position in the block
    code: int | None = None  # committed: its result code (0 = applied); dropped: why
    log: str = ""  # the result's sentence, or why it was dropped
    raw: bytes = b""  # the tx itself, when a validator holds it
    pending_on: tuple[str, ...] = ()
    answered: tuple[str, ...] = ()
    # No answer this round: down, or not waited for once another had the final answer.
    unreachable: tuple[str, ...] = ()
    latest_height: int = 0  # the highest committed height among the answers

    @property
    def applied(self) -> bool:
        """Committed and its message took effect."""
        return self.state == COMMITTED and self.code == 0

    def to_dict(self, name: Callable[[str], str] = str) -> dict[str, Any]:
        """For `--json`; `name` turns a validator endpoint into what the user calls it."""
        return {
            "tx_hash": self.tx_hash,
            "state": self.state,
            "height": self.height,
            "index": self.index,
            "code": self.code,
            "log": self.log,
            "pending_on": [name(a) for a in self.pending_on],
            "unreachable": [name(a) for a in self.unreachable],
            "latest_height": self.latest_height,
            "tx": decode_tx(self.raw) if self.raw else None,
        }


def decode_tx(raw: bytes) -> dict[str, Any]:
    """What a tx says, for display; a tx that does not decode shows as such."""
    from google.protobuf.message import DecodeError

    out: dict[str, Any] = {"hash": tx_hash(raw), "bytes": len(raw)}
    tx, body = ledger_pb2.Tx(), ledger_pb2.TxBody()
    try:
        tx.ParseFromString(raw)
        body.ParseFromString(tx.body)
    except DecodeError:
        out["kind"] = "malformed"
        return out
    kind = body.WhichOneof("msg") or "none"
    out.update(
        sender=address_of(tx.public_key) if tx.public_key else "",
        nonce=body.nonce,
        fee=format_stos(body.fee),
        kind=kind,
    )
    if kind == "transfer":
        out.update(to=body.transfer.to, amount=format_stos(body.transfer.amount))
    elif kind == "register_node":
        out.update(
            role=enum_name(ledger_pb2.NodeRole, body.register_node.role)
            .removeprefix("NODE_ROLE_")
            .lower(),
            deposit=format_stos(body.register_node.deposit),
        )
    elif kind == "prepay_ozone":
        out.update(amount=format_stos(body.prepay_ozone.amount))
    elif kind == "epoch_report":
        r = body.epoch_report
        out.update(
            epoch=r.epoch,
            nodes=len(r.traffic),
            bytes=sum(t.bytes for t in r.traffic),
            ozone=sum(p.ozone for p in r.payers),
            audits_failed=sum(t.audits_failed for t in r.traffic),
            signers=sorted(address_of(s.public_key) for s in r.signatures),
            traffic=[
                {"node": t.node, "bytes": t.bytes, "audits_failed": t.audits_failed}
                for t in r.traffic
            ],
            payers=[{"payer": p.payer, "ozone": p.ozone} for p in r.payers],
        )
    return out


def summarize(
    hash_hex: str, answers: Sequence[tuple[str, consensus_pb2.GetTxResponse | None]]
) -> TxStatus:
    """Every validator's (endpoint, GetTx answer or None when it did not answer) → one status."""
    got = [(a, r) for a, r in answers if r is not None]
    base = {
        "tx_hash": hash_hex,
        "answered": tuple(a for a, _ in got),
        "unreachable": tuple(a for a, r in answers if r is None),
        "latest_height": max((r.latest_height for _, r in got), default=0),
    }
    by_state: dict[str, list[consensus_pb2.GetTxResponse]] = {}
    for _, r in got:
        by_state.setdefault(_STATES.get(r.state, UNKNOWN), []).append(r)
    raw = next((r.tx for _, r in got if r.tx), b"")
    if COMMITTED in by_state:
        r = by_state[COMMITTED][0]
        return TxStatus(
            state=COMMITTED,
            height=r.height,
            index=r.index,
            code=r.result.code,
            log=r.result.log,
            raw=raw,
            **base,
        )
    if PENDING in by_state:
        pending_on = tuple(a for a, r in got if r.state == consensus_pb2.TX_STATE_PENDING)
        return TxStatus(state=PENDING, raw=raw, pending_on=pending_on, **base)
    if DROPPED in by_state:
        r = by_state[DROPPED][0]
        return TxStatus(
            state=DROPPED, height=r.height, code=r.result.code, log=r.result.log, **base
        )
    return TxStatus(state=UNKNOWN, **base)


# -- nonces -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NonceView:
    """What one validator says of an account: its committed nonce, and the next one counting
    the account's txs pending in that validator's mempool."""

    endpoint: str
    nonce: int
    pending_nonce: int
    height: int = 0  # the committed height the validator answered at

    @property
    def next(self) -> int:
        # A validator that predates pending nonces answers 0: the committed nonce still holds.
        return max(self.nonce, self.pending_nonce)


def next_nonce(views: Sequence[NonceView]) -> int:
    """The nonce of the account's next tx: the largest any validator knows of. A validator that
    has not yet seen a relayed tx reports less; taking its word would reuse a pending nonce."""
    if not views:
        raise ValueError("no validator answered")
    return max(v.next for v in views)


def submit_order(views: Sequence[NonceView]) -> list[str]:
    """Endpoints to submit to, in order: those that know the most pending txs first (they hold
    every predecessor of the new tx, so they admit it), the given order otherwise."""
    return [v.endpoint for v in sorted(views, key=lambda v: -v.next)]


# -- a submitted tx that has not committed ------------------------------------------------------


def pending_sentence(
    status: TxStatus,
    waited_s: float,
    *,
    from_height: int,
    name: Callable[[str], str] = str,
) -> str:
    """What to tell whoever submitted `status.tx_hash` and waited `waited_s` without a commit."""
    h = status.tx_hash
    head = f"submitted as tx {h}, not yet committed"
    if waited_s > 0:
        head += f" after {waited_s:g} s"
    if status.latest_height <= from_height:
        why = "no block has committed since (are enough validators up? see 'stratos chain status')"
    else:
        why = f"blocks committed up to height {status.latest_height} without it"
    if status.state == PENDING:
        where = ", ".join(name(a) for a in status.pending_on)
        return (
            f"{head}: {why if waited_s > 0 else 'it waits for a block'}; it is pending on "
            f"{where} and may still commit — follow it with 'stratos tx {h} --wait'"
        )
    return (
        f"{head}, and no validator that answered holds it now (a restarted validator forgets "
        f"its mempool; {len(status.unreachable)} did not answer); "
        f"check 'stratos tx {h}' before sending again"
    )


class TxPending(StratosError):
    """A tx was submitted but is not committed: not a refusal, and not final. It may still
    commit; `status` says where it is, `tx_hash` is what to follow, `detail` what was sent.
    Never retry the call that raised it: the tx would be sent twice."""

    def __init__(
        self, sentence: str, status: TxStatus, detail: dict[str, Any] | None = None
    ) -> None:
        super().__init__(sentence)
        self.status = status
        self.detail = detail or {}

    @property
    def tx_hash(self) -> str:
        return self.status.tx_hash
