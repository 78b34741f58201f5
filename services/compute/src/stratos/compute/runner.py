"""One executor's run of one job: check what it was handed, run the module in the sandbox, and
sign what came out (an `Attestation`).

The worker around it fetches and decrypts the inputs (into a private directory) and stores the
output; this module only decides what is run and what is attested, so it is the same whatever
the inputs' transport. What it refuses, it refuses before the module runs:
- a module whose bytes do not hash to the job's `module_hash`;
- a job whose limits exceed this worker's (`WorkerLimits`): a job cannot ask a worker for more
  fuel, memory or time than its operator allows;
- an input count that does not match the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from blake3 import blake3

from stratos.common import attestations
from stratos.common.errors import FailedPrecondition, InvalidArgument
from stratos.common.identity import Identity
from stratos.compute import sandbox
from stratos.v1 import compute_pb2


@dataclass(frozen=True)
class WorkerLimits:
    """The most a job may ask of this worker."""

    max_fuel: int = 10**12
    max_memory_bytes: int = 1 << 30
    max_wall_s: int = 3600


@dataclass(frozen=True)
class Ran:
    signed: compute_pb2.SignedAttestation
    attestation: compute_pb2.Attestation
    stderr: bytes


def limits_for(job: compute_pb2.ComputeJob, worker: WorkerLimits) -> sandbox.Limits:
    """The sandbox limits of `job`, or FailedPrecondition naming the first it exceeds here."""
    if job.fuel <= 0:
        raise InvalidArgument("a job needs a fuel limit above 0")
    for what, asked, most in (
        ("fuel", job.fuel, worker.max_fuel),
        ("memory", job.memory_bytes, worker.max_memory_bytes),
        ("wall-clock seconds", job.wall_s, worker.max_wall_s),
    ):
        if asked > most:
            raise FailedPrecondition(f"the job asks for {asked} {what}; this worker allows {most}")
    return sandbox.Limits(
        fuel=job.fuel,
        memory_bytes=job.memory_bytes or min(256 << 20, worker.max_memory_bytes),
        wall_s=float(job.wall_s or min(300, worker.max_wall_s)),
    )


def run_job(
    job: compute_pb2.ComputeJob,
    executor: Identity,
    executor_id: str,
    module_bytes: bytes,
    inputs: Sequence[Path],
    input_chunks: Sequence[str],
    on_output: Callable[[bytes], None],
    *,
    workdir: Path,
    worker: WorkerLimits = WorkerLimits(),
    clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
) -> Ran:
    """Run `job` once as `executor_id` over the decrypted `inputs` (whose ciphertext chunks, in
    order, are `input_chunks`), streaming the output to `on_output`; the signed attestation."""
    if blake3(module_bytes).digest() != bytes(job.module_hash):
        raise InvalidArgument("the module's bytes do not hash to the job's module_hash")
    if len(inputs) != len(job.inputs):
        raise InvalidArgument(f"the job has {len(job.inputs)} inputs, not {len(inputs)}")
    limits = limits_for(job, worker)
    module = sandbox.check_module(module_bytes)
    digest, size = blake3(), 0

    def output(chunk: bytes) -> None:
        nonlocal size
        digest.update(chunk)
        size += len(chunk)
        on_output(chunk)

    started = clock_ms()
    outcome = sandbox.run(
        module,
        list(inputs),
        output,
        limits,
        args=list(job.args),
        workdir=workdir,
        seed=bytes(job.job_id),  # every executor of the job: the same random stream and clock
        clock_start_ns=job.created_unix_ms * 1_000_000,
    )
    a = compute_pb2.Attestation(
        job_id=job.job_id,
        executor=executor_id,
        module_hash=job.module_hash,
        input_chunks=list(input_chunks),
        ok=outcome.ok,
        output_hash=digest.digest() if outcome.ok else b"",
        output_size=size if outcome.ok else 0,
        error=outcome.error,
        fuel_used=outcome.fuel_used,
        started_unix_ms=started,
        finished_unix_ms=clock_ms(),
    )
    return Ran(attestations.sign(executor, a), a, outcome.stderr)
