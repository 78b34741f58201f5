"""Transactions on the wire: addresses, signing, hashing and decoding.

Kept apart from the state machine so that wallets (CLI, SDK, benchmarks) can build and sign
transactions without importing ledger rules, and so the ledger sees only `DecodedTx`s whose shape
is already checked.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import IntEnum

from google.protobuf.message import DecodeError

from stratos.common.epoch_reports import shape_problem
from stratos.common.identity import Identity, address_of, verify
from stratos.common.stos import SIGN_DOMAIN, is_address, sign_tx, tx_hash
from stratos.v1 import ledger_pb2 as pb

# Hashes of txs whose signature verified on this node: a tx checked at mempool entry is not
# verified again in the proposal and the block holding it. The hash covers the whole tx (body,
# key and signature), so a hit means the very same bytes verified before: the outcome is the
# same as verifying again, on every node. Only successes are kept; bounded, oldest out first.
_VERIFIED_MAX = 65_536
_verified: dict[str, None] = {}
_verified_lock = threading.Lock()
# Decoded txs by their exact bytes: a tx is decoded at mempool entry, again in the proposal, the
# block and every mempool re-check; decoding is pure, so the first result serves them all.
_DECODED_MAX = 8_192
_decoded: dict[bytes, DecodedTx] = {}
MSG_KINDS = ("transfer", "register_node", "unbond", "prepay_ozone", "epoch_report", "slash")


class TxCode(IntEnum):
    """Result codes of check_tx / apply_block (TxResult.code); OK is the only success."""

    OK = 0
    MALFORMED = 1
    OVERSIZED = 2
    BAD_SIGNATURE = 3
    WRONG_CHAIN = 4
    UNKNOWN_ACCOUNT = 5
    BAD_NONCE = 6
    FEE_TOO_LOW = 7
    INSUFFICIENT_FUNDS = 8
    REJECTED = 9  # the message itself is not allowed in this state
    NOT_ENABLED = 10


# Refused before its fee and nonce were charged (the ante step): such a tx changed nothing, so the
# same bytes may still apply in a later block. Every other failure consumed the nonce.
UNCHARGED = frozenset(
    {
        TxCode.MALFORMED,
        TxCode.OVERSIZED,
        TxCode.BAD_SIGNATURE,
        TxCode.WRONG_CHAIN,
        TxCode.UNKNOWN_ACCOUNT,
        TxCode.BAD_NONCE,
        TxCode.FEE_TOO_LOW,
        TxCode.INSUFFICIENT_FUNDS,
    }
)


class TxRejected(Exception):
    """A transaction refused for `code`, with the sentence a user reads."""

    def __init__(self, code: TxCode, log: str) -> None:
        super().__init__(log)
        self.code = code
        self.log = log


def build_tx(identity: Identity, *, chain_id: str, nonce: int, fee: int, **msg: object) -> bytes:
    """Build and sign a tx carrying exactly one message, e.g. `transfer=pb.Transfer(...)`."""
    if len(msg) != 1 or next(iter(msg)) not in MSG_KINDS:
        raise ValueError(f"exactly one message of {MSG_KINDS} is needed, got {sorted(msg)}")
    return sign_tx(identity, pb.TxBody(chain_id=chain_id, nonce=nonce, fee=fee, **msg))


@dataclass(frozen=True)
class DecodedTx:
    """A parsed tx whose shape is valid; its signature is checked separately (`verify_sig`)."""

    raw: bytes
    hash: str
    tx: pb.Tx
    body: pb.TxBody
    sender: str
    kind: str  # which oneof `msg` field is set

    def verify_sig(self) -> bool:
        if self.hash in _verified:
            return True
        if not verify(self.tx.public_key, self.tx.signature, SIGN_DOMAIN + self.tx.body):
            return False
        with _verified_lock:
            _verified[self.hash] = None
            while len(_verified) > _VERIFIED_MAX:
                del _verified[next(iter(_verified))]
        return True


def decode_tx(raw: bytes, *, max_tx_bytes: int, max_report_bytes: int = 0) -> DecodedTx:
    """Parse `raw`, refusing oversized or malformed txs with a TxRejected sentence. An epoch
    report may be up to `max_report_bytes` (it lists every node and payer of an epoch)."""
    limit = max(max_tx_bytes, max_report_bytes)
    if len(raw) > limit:  # before the cache: the limit is a parameter that can change
        raise TxRejected(
            TxCode.OVERSIZED, f"the tx is {len(raw)} bytes; the limit is {limit} bytes"
        )
    hit = _decoded.get(raw)
    if hit is None:
        hit = _decode(raw)
        with _verified_lock:
            _decoded[raw] = hit
            while len(_decoded) > _DECODED_MAX:
                del _decoded[next(iter(_decoded))]
    if len(raw) > max_tx_bytes and hit.kind != "epoch_report":
        raise TxRejected(
            TxCode.OVERSIZED, f"the tx is {len(raw)} bytes; the limit is {max_tx_bytes} bytes"
        )
    return hit


def _decode(raw: bytes) -> DecodedTx:
    tx, body = pb.Tx(), pb.TxBody()
    try:
        tx.ParseFromString(raw)
        body.ParseFromString(tx.body)
    except DecodeError:
        raise TxRejected(TxCode.MALFORMED, "the tx is malformed: it does not decode") from None
    if len(tx.public_key) != 32:
        raise TxRejected(TxCode.MALFORMED, "the tx is malformed: the public key is not 32 bytes")
    if len(tx.signature) != 64:
        raise TxRejected(TxCode.MALFORMED, "the tx is malformed: the signature is not 64 bytes")
    kind = body.WhichOneof("msg")
    if kind is None:
        raise TxRejected(TxCode.MALFORMED, "the tx is malformed: it carries no message")
    _check_msg_shape(kind, getattr(body, kind))
    return DecodedTx(raw, tx_hash(raw), tx, body, address_of(tx.public_key), kind)


def _check_msg_shape(kind: str, msg: object) -> None:
    """State-free checks of a message's fields, so handlers only judge against the state."""
    bad = None
    if kind == "transfer":
        if not is_address(msg.to):
            bad = f"the recipient {msg.to!r} is not an address (40 lowercase hex characters)"
        elif msg.amount == 0:
            bad = "the transfer amount is 0"
    elif kind == "register_node":
        if msg.role not in (pb.NODE_ROLE_RESOURCE, pb.NODE_ROLE_META):
            bad = "the node role must be resource or meta"
    elif kind == "prepay_ozone":
        if msg.amount == 0:
            bad = "the prepaid amount is 0"
    elif kind == "epoch_report":
        bad = shape_problem(msg)
    elif kind == "slash" and not msg.evidence:
        bad = "the slash carries no evidence"
    if bad:
        raise TxRejected(TxCode.MALFORMED, f"the tx is malformed: {bad}")
