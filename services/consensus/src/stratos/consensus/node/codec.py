"""Bytes the node stores or puts in txs on the engine's behalf: the signed state (opaque to the
Store), commits (opaque to the Store), and equivocation evidence (opaque to the ledger, which
checks it through `verify_evidence_bytes`).

Kept apart from the node so the formats are plain functions that tests round-trip directly.
"""

from __future__ import annotations

import base64
import json

from google.protobuf.message import DecodeError

from stratos.common.errors import InvalidArgument
from stratos.consensus.bft.evidence import make_evidence, verify_evidence
from stratos.consensus.bft.messages import Commit, Evidence, Vote
from stratos.consensus.bft.types import SignedState, Step
from stratos.consensus.bft.validators import Validator, ValidatorSet
from stratos.consensus.bft.wire import (
    commit_from_proto,
    commit_to_proto,
    vote_from_proto,
    vote_to_proto,
)
from stratos.consensus.bft.wire import decode as decode_message
from stratos.consensus.bft.wire import encode as encode_message
from stratos.consensus.ledger.state import LedgerState
from stratos.consensus.node.store import SignedState as StoredSignedState
from stratos.v1 import bft_pb2


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def signed_state_to_row(s: SignedState) -> StoredSignedState:
    """The engine's SignedState as the Store keeps it: the vote as wire bytes, the lock as JSON."""
    lock = {
        "block_hash": _b64(s.block_hash),
        "locked_round": s.locked_round,
        "locked_block": _b64(s.locked_block),
        "valid_round": s.valid_round,
        "valid_block": _b64(s.valid_block),
    }
    vote = encode_message(s.vote) if s.vote is not None else b""
    return StoredSignedState(s.height, s.round, int(s.step), vote, json.dumps(lock).encode())


def signed_state_from_row(row: StoredSignedState) -> SignedState:
    lock = json.loads(row.lock)
    vote = decode_message(row.vote) if row.vote else None
    if vote is not None and not isinstance(vote, Vote):
        raise InvalidArgument("the stored signed vote is not a vote")
    return SignedState(
        height=row.height,
        round=row.round,
        step=Step(row.step),
        block_hash=_unb64(lock["block_hash"]) or b"",
        vote=vote,
        locked_round=lock["locked_round"],
        locked_block=_unb64(lock["locked_block"]),
        valid_round=lock["valid_round"],
        valid_block=_unb64(lock["valid_block"]),
    )


def commit_to_bytes(c: Commit) -> bytes:
    return commit_to_proto(c).SerializeToString(deterministic=True)


def commit_from_bytes(raw: bytes) -> Commit:
    return commit_from_proto(bft_pb2.Commit.FromString(raw))


def validator_set(state: LedgerState) -> ValidatorSet:
    return ValidatorSet(Validator(a, pk, p) for a, pk, p in state.validator_set())


def evidence_to_bytes(ev: Evidence) -> bytes:
    """Canonical bytes (votes in `make_evidence` order), so every reporter of the same
    equivocation puts identical evidence in its Slash tx and the ledger slashes it once."""
    ev = make_evidence(ev.a, ev.b)
    msg = bft_pb2.Evidence(a=vote_to_proto(ev.a), b=vote_to_proto(ev.b))
    return msg.SerializeToString(deterministic=True)


def verify_evidence_bytes(raw: bytes, state: LedgerState) -> str:
    """The ledger's EvidenceVerifier: the offender's address, or InvalidArgument saying why not."""
    try:
        msg = bft_pb2.Evidence.FromString(raw)
    except DecodeError:
        raise InvalidArgument("the evidence does not decode") from None
    if not (msg.HasField("a") and msg.HasField("b")):
        raise InvalidArgument("the evidence lacks one of its two votes")
    ev = Evidence(vote_from_proto(msg.a), vote_from_proto(msg.b))
    return verify_evidence(ev, validator_set(state), state.chain_id).address
