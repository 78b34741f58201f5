"""Epoch reports as bytes: the digest bonded meta nodes sign, and the state-free shape rules.

Shared by the ledger (which settles a report, `stratos.consensus.ledger.epochs`) and the
incentive service (which computes and signs one), so both hash the very same bytes.
"""

from __future__ import annotations

import struct
from itertools import pairwise

from blake3 import blake3

from stratos.common.stos import is_address
from stratos.v1 import ledger_pb2 as pb

DIGEST_DOMAIN = b"stratos.epoch-report.v1\x00"
MAX_ENTRIES = 100_000  # nodes or payers one report may list
MAX_SIGNATURES = 1_000
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def _blob(b: bytes) -> bytes:
    return _U32.pack(len(b)) + b


def report_digest(chain_id: str, report: pb.EpochReport) -> bytes:
    """What meta nodes sign: BLAKE3 over the chain id, the epoch and every entry in its
    (sorted) order, with fixed-width integers. The signatures themselves are not covered."""
    parts = [DIGEST_DOMAIN, _blob(chain_id.encode()), _U64.pack(report.epoch)]
    parts.append(_U32.pack(len(report.traffic)))
    for t in report.traffic:
        parts += (_blob(t.node.encode()), _U64.pack(t.bytes), _U64.pack(t.audits_failed))
    parts.append(_U32.pack(len(report.payers)))
    for p in report.payers:
        parts += (_blob(p.payer.encode()), _U64.pack(p.ozone))
    return blake3(b"".join(parts)).digest()


def _strictly_sorted(keys: list[str]) -> bool:
    return all(a < b for a, b in pairwise(keys))


def shape_problem(report: pb.EpochReport) -> str | None:
    """A state-free reason the report is malformed, or None."""
    nodes = [t.node for t in report.traffic]
    payers = [p.payer for p in report.payers]
    if len(nodes) > MAX_ENTRIES or len(payers) > MAX_ENTRIES:
        return f"a report lists at most {MAX_ENTRIES} nodes and {MAX_ENTRIES} payers"
    if any(not is_address(n) for n in nodes):
        return "a traffic entry names something that is not a node address"
    if any(not is_address(p) for p in payers):
        return "a payer entry names something that is not a wallet address"
    if not _strictly_sorted(nodes) or not _strictly_sorted(payers):
        return "the report's nodes and payers must each be sorted by address, without repeats"
    if sum(p.ozone for p in report.payers) > sum(t.bytes for t in report.traffic):
        return "the payers are charged for more ozone than the nodes moved bytes"
    if not report.signatures or len(report.signatures) > MAX_SIGNATURES:
        return f"a report carries 1 to {MAX_SIGNATURES} meta-node signatures"
    for s in report.signatures:
        if len(s.public_key) != 32 or len(s.signature) != 64:
            return "a report signature needs a 32-byte public key and a 64-byte signature"
    return None
