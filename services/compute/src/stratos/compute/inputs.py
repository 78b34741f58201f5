"""Fetching a job's module and inputs onto the worker that runs it.

The worker reads through the SDK's one read path (`MeshClient.get`): chunks verified against
their content address, segments decrypted and authenticated before a byte is written. For a
job, it differs from any reader's in three ways:
- the file keys come out of the job: each is sealed to this executor and bound to the job, the
  input and the submitter (`stratos.common.jobkeys.open_sealed`), so nobody else — and no other
  job — can make this worker decrypt a file;
- the index is shown the signed job, so the tickets are paid by the job's payer;
- this worker's own storage node is asked first, so a worker placed where its input lives
  reads its own disk (`Fetched.locality` says how much it did).

Inputs land as files `in/<i>` in the run's private directory (0700), read by the sandbox and
removed with it. The module is read into memory: it is small (at most `MAX_MODULE_BYTES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from blake3 import blake3

from stratos.common.errors import InvalidArgument, PermissionDenied
from stratos.common.identity import Identity
from stratos.common.jobkeys import MODULE_INDEX, open_sealed
from stratos.compute.sandbox import MAX_MODULE_BYTES
from stratos.sdk.capability import format_capability
from stratos.sdk.client import MeshClient
from stratos.v1 import compute_pb2


@dataclass(frozen=True)
class Fetched:
    module: bytes
    inputs: list[Path]  # in/<i>, decrypted
    input_chunks: list[str]  # every chunk read, input by input, in order (for the attestation)
    locality: float  # the share of the input bytes read from this worker's own node


def _key(
    executor: Identity,
    executor_id: str,
    job: compute_pb2.ComputeJob,
    keys,
    index: int,
    file_id: str,
    what: str,
) -> bytes:
    sealed = next((k.sealed for k in keys if k.executor == executor_id), None)
    if sealed is None:
        raise PermissionDenied(f"{what} has no key sealed to {executor_id}")
    return open_sealed(
        executor,
        sealed,
        job_id=bytes(job.job_id),
        input_index=index,
        file_id=file_id,
        submitter_public_key=bytes(job.submitter_public_key),
    )


async def fetch(
    client: MeshClient,
    signed: compute_pb2.SignedJob,
    job: compute_pb2.ComputeJob,
    executor: Identity,
    executor_id: str,
    workdir: Path,
) -> Fetched:
    """The job's module (checked against its hash) and inputs, read as `executor_id`."""
    if executor_id not in job.executors:
        raise PermissionDenied(f"{executor_id} is not an executor of this job")
    module_key = _key(
        executor, executor_id, job, job.module_keys, MODULE_INDEX, job.module_file_id, "the module"
    )
    module_path = workdir / "module.wasm"
    got = await client.get(
        format_capability(job.module_file_id, module_key),
        module_path,
        force=True,
        job=signed,
        prefer_node=executor_id,
    )
    if got.size > MAX_MODULE_BYTES:
        raise InvalidArgument(f"the module is {got.size} bytes; at most {MAX_MODULE_BYTES}")
    module = module_path.read_bytes()
    module_path.unlink()
    if blake3(module).digest() != bytes(job.module_hash):
        raise InvalidArgument("the module file does not hash to the job's module_hash")
    before = dict(client.moved_by_node)
    indir = workdir / "inputs"
    indir.mkdir(mode=0o700)
    paths: list[Path] = []
    chunks: list[str] = []
    for i, item in enumerate(job.inputs):
        key = _key(executor, executor_id, job, item.keys, i, item.file_id, f"input {i}")
        res = await client.get(
            format_capability(item.file_id, key),
            indir / str(i),
            force=True,
            job=signed,
            prefer_node=executor_id,
        )
        paths.append(indir / str(i))
        chunks.extend(res.chunk_ids)
    moved = {n: b - before.get(n, 0) for n, b in client.moved_by_node.items()}
    total = sum(moved.values())
    return Fetched(module, paths, chunks, moved.get(executor_id, 0) / total if total else 1.0)
