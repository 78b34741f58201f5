"""Making a compute job (stratos.sdk.jobs): signed by its submitter, who pays; the module and
every input named by file ID with its key sealed to each executor and to nobody else."""

from __future__ import annotations

import os

from blake3 import blake3

from stratos.common.identity import Identity, address_of
from stratos.common.jobkeys import MODULE_INDEX, open_job, open_sealed
from stratos.sdk.capability import format_capability
from stratos.sdk.jobs import make_job

USER = Identity.generate()
EXECUTORS = {f"storage-{i}": Identity.generate() for i in (1, 2, 3)}
MODULE, INPUTS = (
    ("a" * 32, os.urandom(32)),
    [("b" * 32, os.urandom(32)), ("c" * 32, os.urandom(32))],
)


def test_a_job_seals_every_key_to_every_executor_and_is_signed_by_its_payer() -> None:
    signed, job = make_job(
        USER,
        module_capability=format_capability(*MODULE),
        module_bytes=b"\0asm...",
        input_capabilities=[format_capability(*i) for i in INPUTS],
        executors={n: e.public_bytes for n, e in EXECUTORS.items()},
        fuel=10**9,
        args=["-top", "5"],
    )
    assert open_job(signed) == job
    assert job.payer == address_of(USER.public_bytes) and job.replicas == 3
    assert job.module_hash == blake3(b"\0asm...").digest() and list(job.args) == ["-top", "5"]
    for name, executor in EXECUTORS.items():
        sealed = {k.executor: k.sealed for k in job.module_keys}[name]
        key = open_sealed(
            executor, sealed, job_id=job.job_id, input_index=MODULE_INDEX, file_id=MODULE[0],
            submitter_public_key=USER.public_bytes,
        )  # fmt: skip
        assert key == MODULE[1]
        for i, (item, (file_id, file_key)) in enumerate(zip(job.inputs, INPUTS, strict=True)):
            assert item.file_id == file_id
            sealed = {k.executor: k.sealed for k in item.keys}[name]
            opened = open_sealed(
                executor, sealed, job_id=job.job_id, input_index=i, file_id=file_id,
                submitter_public_key=USER.public_bytes,
            )  # fmt: skip
            assert opened == file_key
    serialized = signed.SerializeToString()
    assert all(k not in serialized for _, k in (MODULE, *INPUTS))  # no key in the clear
