"""Equivocation evidence: built by the vote sets, checked on its own by whoever slashes.

A piece of evidence must stand without any context but the validator set of its height: the
ledger verifies it when it lands in a block, possibly long after the votes were cast, and
slashes the validator's deposit. The two votes are put in a canonical order so that every
honest validator that sees the same equivocation produces the identical evidence (one slash,
however many reporters).
"""

from __future__ import annotations

from stratos.common.identity import verify
from stratos.consensus.bft.messages import Evidence, InvalidMessage, Vote
from stratos.consensus.bft.validators import Validator, ValidatorSet


def make_evidence(a: Vote, b: Vote) -> Evidence:
    first, second = sorted((a, b), key=lambda v: (v.block_hash, v.signature))
    return Evidence(first, second)


def verify_evidence(ev: Evidence, validators: ValidatorSet, chain_id: str) -> Validator:
    """The validator the evidence convicts; raises InvalidMessage when it proves nothing."""
    a, b = ev.a, ev.b
    if (a.validator, a.height, a.round, a.type) != (b.validator, b.height, b.round, b.type):
        raise InvalidMessage("evidence votes differ in validator, height, round or type")
    if a.block_hash == b.block_hash:
        raise InvalidMessage("evidence votes are for the same block")
    val = validators.get(a.validator)
    if val is None:
        raise InvalidMessage(f"evidence names {a.validator}, which is not a validator")
    for v in (a, b):
        if not verify(val.public_key, v.signature, v.sign_bytes(chain_id)):
            raise InvalidMessage(f"evidence vote by {a.validator} has a bad signature")
    return val
