"""Making a compute job as its submitter (issue 14): the signed `ComputeJob` that names the
module and inputs by capability, with every file key sealed to each chosen executor (see
`stratos.common.jobkeys`). The capabilities never leave this process: only sealed keys do.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence

from blake3 import blake3

from stratos.common.errors import InvalidArgument
from stratos.common.identity import Identity, address_of
from stratos.common.jobkeys import MODULE_INDEX, seal, sign_job
from stratos.sdk.capability import parse_capability
from stratos.v1 import compute_pb2


def make_job(
    submitter: Identity,
    *,
    module_capability: str,
    module_bytes: bytes,
    input_capabilities: Sequence[str],
    executors: Mapping[str, bytes],
    fuel: int,
    memory_bytes: int = 0,
    wall_s: int = 0,
    args: Sequence[str] = (),
    job_id: bytes | None = None,
    now_ms: int | None = None,
) -> tuple[compute_pb2.SignedJob, compute_pb2.ComputeJob]:
    """The job, signed by `submitter` (who pays), run by `executors` (node ID → its admitted
    ed25519 public key); every key is sealed to each of them."""
    if not executors:
        raise InvalidArgument("a job needs at least one executor")
    job_id = job_id or os.urandom(16)

    def sealed(index: int, capability: str) -> tuple[str, list[compute_pb2.SealedKey]]:
        file_id, key = parse_capability(capability)
        return file_id, [
            compute_pb2.SealedKey(
                executor=name,
                sealed=seal(
                    public_key,
                    job_id=job_id,
                    input_index=index,
                    file_id=file_id,
                    submitter_public_key=submitter.public_bytes,
                    file_key=key,
                ),
            )
            for name, public_key in sorted(executors.items())
        ]

    module_id, module_keys = sealed(MODULE_INDEX, module_capability)
    inputs = []
    for i, cap in enumerate(input_capabilities):
        file_id, keys = sealed(i, cap)
        inputs.append(compute_pb2.JobInput(file_id=file_id, keys=keys))
    job = compute_pb2.ComputeJob(
        job_id=job_id,
        submitter_public_key=submitter.public_bytes,
        payer=address_of(submitter.public_bytes),
        module_file_id=module_id,
        module_hash=blake3(module_bytes).digest(),
        module_keys=module_keys,
        inputs=inputs,
        args=list(args),
        replicas=len(executors),
        executors=sorted(executors),
        fuel=fuel,
        memory_bytes=memory_bytes,
        wall_s=wall_s,
        created_unix_ms=int(time.time() * 1000) if now_ms is None else now_ms,
    )
    return sign_job(submitter, job), job
