"""Attestations and agreement (stratos.common.attestations): a result is accepted when more
than half of a job's r executors attest the same outcome; the others are dissenters; a vote
with no majority fails; forged attestations are refused."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratos.common.attestations import agree, open_attestation, sign
from stratos.common.errors import PermissionDenied
from stratos.common.identity import Identity
from stratos.v1 import compute_pb2

JOB_ID, MODULE = os.urandom(16), os.urandom(32)
CHUNKS = ["a" * 64, "b" * 64]


def job(r: int) -> compute_pb2.ComputeJob:
    return compute_pb2.ComputeJob(
        job_id=JOB_ID, module_hash=MODULE, replicas=r, executors=[f"s{i}" for i in range(r)]
    )


def att(executor: str, output: bytes = b"right", ok: bool = True, **over):
    fields = {
        "job_id": JOB_ID,
        "executor": executor,
        "module_hash": MODULE,
        "input_chunks": CHUNKS,
        "ok": ok,
        "output_hash": output if ok else b"",
        "output_size": 5 if ok else 0,
        "error": "" if ok else "ran out of fuel after 10",
        "fuel_used": 7,
        **over,
    }
    return compute_pb2.Attestation(**fields)


def test_two_of_three_agree_and_the_third_is_a_dissenter() -> None:
    v = agree(job(3), [att("s0"), att("s1", b"wrong"), att("s2")])
    assert v.agreed and v.accepted.output_hash == b"right"
    assert (v.agreeing, v.dissenting, v.missing) == (("s0", "s2"), ("s1",), ())


def test_without_a_majority_there_is_no_agreement() -> None:
    v = agree(job(3), [att("s0", b"x"), att("s1", b"y"), att("s2", b"z")])
    assert not v.agreed and v.final
    pending = agree(job(3), [att("s0", b"x"), att("s1", b"y")])
    assert not pending.agreed and not pending.final  # s2 may still side with one of them


def test_the_same_failure_is_an_agreement_too() -> None:
    v = agree(job(3), [att("s0", ok=False), att("s1", ok=False), att("s2")])
    assert v.agreed and not v.accepted.ok and v.dissenting == ("s2",)


@pytest.mark.parametrize(
    "stray",
    [
        att("s9"),  # not chosen
        att("s1", job_id=os.urandom(16)),  # another job
        att("s1", module_hash=os.urandom(32)),  # another module
    ],
)
def test_attestations_that_are_not_this_jobs_do_not_count(stray) -> None:
    v = agree(job(3), [att("s0"), stray])
    assert (not v.agreed and "s1" in v.missing) or "s9" not in v.agreeing


def test_an_executor_counts_once_and_other_inputs_do_not_agree() -> None:
    assert not agree(job(3), [att("s0"), att("s0"), att("s0")]).agreed
    v = agree(job(3), [att("s0"), att("s1", input_chunks=["c" * 64]), att("s2")])
    assert v.dissenting == ("s1",)


def test_one_replica_trusts_the_one() -> None:
    assert agree(job(1), [att("s0")]).agreed


@given(st.integers(1, 7), st.lists(st.integers(0, 2), min_size=0, max_size=7))
def test_a_result_is_accepted_exactly_when_a_majority_attests_it(r, outputs) -> None:
    attested = [att(f"s{i}", bytes([o])) for i, o in enumerate(outputs[:r])]
    v = agree(job(r), attested)
    counts = {o: outputs[:r].count(o) for o in set(outputs[:r])}
    top = max(counts.values(), default=0)
    assert v.agreed == (top > r // 2)
    if v.agreed:
        assert len(v.agreeing) == top and len(v.agreeing) + len(v.dissenting) == len(attested)
        assert set(v.agreeing).isdisjoint(v.dissenting)


def test_signatures_are_checked() -> None:
    executor, other = Identity.generate(), Identity.generate()
    signed = sign(executor, att("s0"))
    assert open_attestation(signed, executor.public_bytes) == att("s0")
    with pytest.raises(PermissionDenied):
        open_attestation(signed, other.public_bytes)
