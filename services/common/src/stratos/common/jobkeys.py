"""How a compute job's inputs reach only the executors chosen for it, and how a job is signed.

An executor must decrypt the inputs it computes over, and nobody else may: not the index, not
NATS, not the other storage nodes. So the submitter seals each input's file key to each chosen
executor — libsodium's sealed box (an ephemeral X25519 key and XSalsa20-Poly1305) to the X25519
form of the executor's ed25519 identity key, the key the admission list already names for that
node. No second key has to be published or trusted.

The sealed body names the job, the input, its file and the submitter. An executor opens a key
only for the job it is running and checks the body against it, so a sealed key copied into
another job — say, a stranger's job whose module copies its input to an output sealed to the
stranger — is refused instead of decrypting someone else's file for them.

The job itself is signed by the submitter (`sign_job` / `open_job`): executors run only what
its owner asked, with the limits it set, and the output's key is sealed to that owner.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from stratos.common.errors import InvalidArgument, PermissionDenied
from stratos.common.identity import Identity, verify
from stratos.v1 import compute_pb2

JOB_DOMAIN = b"stratos.job.v1\0"
MODULE_INDEX = 0xFFFFFFFF  # the `input_index` a module's sealed key is bound to
FILE_KEY_BYTES = 32
MAX_JOB_BYTES = 256 << 10


class KeyRefused(PermissionDenied):
    """A sealed key that is not for this executor, this job or this input."""


def seal(
    executor_public_key: bytes,
    *,
    job_id: bytes,
    input_index: int,
    file_id: str,
    submitter_public_key: bytes,
    file_key: bytes,
) -> bytes:
    """`file_key` sealed to the executor whose ed25519 identity key is `executor_public_key`,
    bound to (job, input, file, submitter)."""
    from nacl.public import SealedBox
    from nacl.signing import VerifyKey

    if len(file_key) != FILE_KEY_BYTES:
        raise InvalidArgument(f"a file key is {FILE_KEY_BYTES} bytes, not {len(file_key)}")
    body = compute_pb2.SealedKeyBody(
        job_id=job_id,
        input=input_index,
        file_id=file_id,
        submitter_public_key=submitter_public_key,
        file_key=file_key,
    ).SerializeToString(deterministic=True)
    box = SealedBox(VerifyKey(executor_public_key).to_curve25519_public_key())
    return bytes(box.encrypt(body))


def open_sealed(
    executor: Identity,
    sealed: bytes,
    *,
    job_id: bytes,
    input_index: int,
    file_id: str,
    submitter_public_key: bytes,
) -> bytes:
    """The file key `sealed` holds for `executor`, when it was sealed for exactly this job's
    input `input_index` (file `file_id`) by `submitter_public_key`; else KeyRefused."""
    from nacl.exceptions import CryptoError
    from nacl.public import SealedBox
    from nacl.signing import SigningKey

    private = SigningKey(executor.private_key.private_bytes_raw()).to_curve25519_private_key()
    try:
        raw = SealedBox(private).decrypt(bytes(sealed))
    except CryptoError:
        raise KeyRefused(
            f"the key of input {input_index} was not sealed to this executor"
        ) from None
    try:
        body = compute_pb2.SealedKeyBody.FromString(raw)
    except DecodeError:
        raise KeyRefused(f"the sealed key of input {input_index} is not readable") from None
    if (body.job_id, body.input, body.file_id) != (job_id, input_index, file_id) or bytes(
        body.submitter_public_key
    ) != bytes(submitter_public_key):
        raise KeyRefused(
            f"the sealed key of input {input_index} was made for another job, input or "
            "submitter; it is not used"
        )
    if len(body.file_key) != FILE_KEY_BYTES:
        raise KeyRefused(f"the sealed key of input {input_index} is not {FILE_KEY_BYTES} bytes")
    return bytes(body.file_key)


def sign_job(submitter: Identity, job: compute_pb2.ComputeJob) -> compute_pb2.SignedJob:
    """`job` signed by its submitter (whose key it must name)."""
    if bytes(job.submitter_public_key) != submitter.public_bytes:
        raise InvalidArgument("a job names its submitter's key and is signed by it")
    body = job.SerializeToString(deterministic=True)
    return compute_pb2.SignedJob(job=body, signature=submitter.sign(JOB_DOMAIN + body))


def open_job(signed: compute_pb2.SignedJob) -> compute_pb2.ComputeJob:
    """The job `signed` carries, when its submitter signed it; else PermissionDenied (forged or
    altered) or InvalidArgument (not a job)."""
    if len(signed.job) > MAX_JOB_BYTES:
        raise InvalidArgument(f"a job is at most {MAX_JOB_BYTES} bytes, not {len(signed.job)}")
    try:
        job = compute_pb2.ComputeJob.FromString(signed.job)
    except DecodeError:
        raise InvalidArgument("the job is not a ComputeJob") from None
    if not verify(job.submitter_public_key, signed.signature, JOB_DOMAIN + signed.job):
        raise PermissionDenied("the job is not signed by the submitter it names")
    return job
