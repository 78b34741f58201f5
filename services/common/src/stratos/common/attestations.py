"""What a compute executor signs about a run, and when r runs agree (pure).

Each of a job's r executors runs it independently and signs an `Attestation`: the job, the
module's hash, every input chunk it read (content addresses), whether the run succeeded, the
BLAKE3 of its output (or the run's one sentence when it failed) and the fuel it used. There is
no hardware TEE here: an attestation is only as good as the stake of the node that signed it,
and its `tee_kind`/`tee_quote` fields are where a quote over the same digest would go.

**Agreement.** Runs agree when they computed the same thing: the same module over the same
input chunks, with the same outcome — the same output bytes, or the same failure. A result is
accepted when more than half of the r executors agree on it (r = 1 trusts the one); the
executors outside that majority are *dissenters* and their signed attestations are evidence
against them (the incentive service turns it into slashing). Without a majority the job fails
with "no agreement" and no output is kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from stratos.common.errors import InvalidArgument, PermissionDenied
from stratos.common.identity import Identity, verify
from stratos.v1 import compute_pb2

DOMAIN = b"stratos.attestation.v1\0"
MAX_ATTESTATION_BYTES = 1 << 20


def sign(executor: Identity, a: compute_pb2.Attestation) -> compute_pb2.SignedAttestation:
    body = a.SerializeToString(deterministic=True)
    return compute_pb2.SignedAttestation(attestation=body, signature=executor.sign(DOMAIN + body))


def open_attestation(
    signed: compute_pb2.SignedAttestation, executor_public_key: bytes
) -> compute_pb2.Attestation:
    """The attestation, when `executor_public_key` signed it; else PermissionDenied."""
    if len(signed.attestation) > MAX_ATTESTATION_BYTES:
        raise InvalidArgument("an attestation is at most 1 MiB")
    if not verify(executor_public_key, signed.signature, DOMAIN + signed.attestation):
        raise PermissionDenied("the attestation is not signed by the executor it names")
    try:
        return compute_pb2.Attestation.FromString(signed.attestation)
    except DecodeError:
        raise InvalidArgument("the attestation is not an Attestation") from None


def outcome_key(a: compute_pb2.Attestation) -> tuple:
    """What two runs must share to agree."""
    what = (bytes(a.output_hash), a.output_size) if a.ok else (a.error,)
    return (bytes(a.module_hash), tuple(a.input_chunks), a.ok, *what)


@dataclass(frozen=True)
class Agreement:
    accepted: compute_pb2.Attestation | None  # one of the majority's; None: no agreement
    agreeing: tuple[str, ...]  # executors in the majority
    dissenting: tuple[str, ...]  # executors that attested something else
    missing: tuple[str, ...]  # chosen executors with no attestation (yet)
    largest: int  # the most executors that attested one same outcome
    need: int  # a majority of the job's replicas

    @property
    def agreed(self) -> bool:
        return self.accepted is not None

    @property
    def final(self) -> bool:
        """No attestation still missing can change the verdict: a majority exists, or even
        all the missing ones joining the largest group would not make one."""
        return self.agreed or self.largest + len(self.missing) < self.need


def agree(
    job: compute_pb2.ComputeJob, attestations: Sequence[compute_pb2.Attestation]
) -> Agreement:
    """The verdict over the (already signature-checked) attestations of `job`'s executors.
    Attestations for another job, of an executor not chosen for it, for another module, or
    repeated, are not counted. A majority is more than half of `job.replicas`."""
    chosen = list(job.executors)
    seen: dict[str, compute_pb2.Attestation] = {}
    for a in attestations:
        if (
            bytes(a.job_id) == bytes(job.job_id)
            and a.executor in chosen
            and bytes(a.module_hash) == bytes(job.module_hash)
            and a.executor not in seen
        ):
            seen[a.executor] = a
    missing = tuple(e for e in chosen if e not in seen)
    counts = Counter(outcome_key(a) for a in seen.values())
    need = job.replicas // 2 + 1
    best = counts.most_common(1)
    largest = best[0][1] if best else 0
    if largest < need:
        return Agreement(None, (), (), missing, largest, need)
    key = best[0][0]
    agreeing = tuple(e for e in chosen if e in seen and outcome_key(seen[e]) == key)
    dissenting = tuple(e for e in chosen if e in seen and outcome_key(seen[e]) != key)
    return Agreement(seen[agreeing[0]], agreeing, dissenting, missing, largest, need)
