"""Sealing an input's key to a compute executor (stratos.common.jobkeys): only that executor
opens it, only for the job, input, file and submitter it was sealed for; jobs are signed."""

from __future__ import annotations

import os

import pytest

from stratos.common.errors import InvalidArgument, PermissionDenied
from stratos.common.identity import Identity
from stratos.common.jobkeys import KeyRefused, open_job, open_sealed, seal, sign_job
from stratos.v1 import compute_pb2

SUBMITTER, EXECUTOR, OTHER = Identity.generate(), Identity.generate(), Identity.generate()
JOB = os.urandom(16)
KEY = os.urandom(32)
BOUND = {"job_id": JOB, "input_index": 0, "file_id": "f" * 32}


def sealed_for(executor: Identity, **over) -> bytes:
    fields = {**BOUND, "submitter_public_key": SUBMITTER.public_bytes, **over}
    return seal(executor.public_bytes, file_key=KEY, **fields)


def test_only_the_executor_it_was_sealed_to_opens_it() -> None:
    sealed = sealed_for(EXECUTOR)
    assert KEY not in sealed
    opened = open_sealed(EXECUTOR, sealed, submitter_public_key=SUBMITTER.public_bytes, **BOUND)
    assert opened == KEY
    with pytest.raises(KeyRefused, match="not sealed to this executor"):
        open_sealed(OTHER, sealed, submitter_public_key=SUBMITTER.public_bytes, **BOUND)
    assert sealed_for(EXECUTOR) != sealed  # an ephemeral key each time


@pytest.mark.parametrize(
    "other",
    [
        {"job_id": os.urandom(16)},  # copied into another job
        {"input_index": 1},  # moved to another input
        {"file_id": "e" * 32},  # pointed at another file
        {"submitter_public_key": OTHER.public_bytes},  # claimed by another submitter
    ],
)
def test_a_sealed_key_replayed_into_another_job_is_refused(other) -> None:
    sealed = sealed_for(EXECUTOR)
    fields = {**BOUND, "submitter_public_key": SUBMITTER.public_bytes, **other}
    with pytest.raises(KeyRefused, match="made for another job, input or submitter"):
        open_sealed(EXECUTOR, sealed, **fields)


def test_garbage_and_short_keys_are_refused() -> None:
    with pytest.raises(KeyRefused):
        open_sealed(EXECUTOR, os.urandom(80), submitter_public_key=SUBMITTER.public_bytes, **BOUND)
    with pytest.raises(InvalidArgument, match="32 bytes"):
        seal(EXECUTOR.public_bytes, file_key=b"short", submitter_public_key=b"", **BOUND)


def test_a_job_is_run_only_as_its_submitter_signed_it() -> None:
    job = compute_pb2.ComputeJob(
        job_id=JOB, submitter_public_key=SUBMITTER.public_bytes, replicas=3, fuel=10**9
    )
    signed = sign_job(SUBMITTER, job)
    assert open_job(signed) == job
    tampered = compute_pb2.ComputeJob.FromString(signed.job)
    tampered.fuel = 10**12
    forged = compute_pb2.SignedJob(job=tampered.SerializeToString(), signature=signed.signature)
    with pytest.raises(PermissionDenied, match="not signed by the submitter"):
        open_job(forged)
    with pytest.raises(InvalidArgument, match="signed by it"):
        sign_job(OTHER, job)
    with pytest.raises(InvalidArgument):
        open_job(compute_pb2.SignedJob(job=b"\xff\xff", signature=b""))
