from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SealedKey(_message.Message):
    __slots__ = ("executor", "sealed")
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    executor: str
    sealed: bytes
    def __init__(self, executor: _Optional[str] = ..., sealed: _Optional[bytes] = ...) -> None: ...

class SealedKeyBody(_message.Message):
    __slots__ = ("job_id", "input", "file_id", "submitter_public_key", "file_key")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    SUBMITTER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    FILE_KEY_FIELD_NUMBER: _ClassVar[int]
    job_id: bytes
    input: int
    file_id: str
    submitter_public_key: bytes
    file_key: bytes
    def __init__(self, job_id: _Optional[bytes] = ..., input: _Optional[int] = ..., file_id: _Optional[str] = ..., submitter_public_key: _Optional[bytes] = ..., file_key: _Optional[bytes] = ...) -> None: ...

class JobInput(_message.Message):
    __slots__ = ("file_id", "keys")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    keys: _containers.RepeatedCompositeFieldContainer[SealedKey]
    def __init__(self, file_id: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[SealedKey, _Mapping]]] = ...) -> None: ...

class ComputeJob(_message.Message):
    __slots__ = ("job_id", "submitter_public_key", "payer", "module_file_id", "module_hash", "inputs", "args", "replicas", "executors", "fuel", "memory_bytes", "wall_s", "created_unix_ms", "module_keys")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SUBMITTER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    PAYER_FIELD_NUMBER: _ClassVar[int]
    MODULE_FILE_ID_FIELD_NUMBER: _ClassVar[int]
    MODULE_HASH_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    EXECUTORS_FIELD_NUMBER: _ClassVar[int]
    FUEL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    WALL_S_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    MODULE_KEYS_FIELD_NUMBER: _ClassVar[int]
    job_id: bytes
    submitter_public_key: bytes
    payer: str
    module_file_id: str
    module_hash: bytes
    inputs: _containers.RepeatedCompositeFieldContainer[JobInput]
    args: _containers.RepeatedScalarFieldContainer[str]
    replicas: int
    executors: _containers.RepeatedScalarFieldContainer[str]
    fuel: int
    memory_bytes: int
    wall_s: int
    created_unix_ms: int
    module_keys: _containers.RepeatedCompositeFieldContainer[SealedKey]
    def __init__(self, job_id: _Optional[bytes] = ..., submitter_public_key: _Optional[bytes] = ..., payer: _Optional[str] = ..., module_file_id: _Optional[str] = ..., module_hash: _Optional[bytes] = ..., inputs: _Optional[_Iterable[_Union[JobInput, _Mapping]]] = ..., args: _Optional[_Iterable[str]] = ..., replicas: _Optional[int] = ..., executors: _Optional[_Iterable[str]] = ..., fuel: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., wall_s: _Optional[int] = ..., created_unix_ms: _Optional[int] = ..., module_keys: _Optional[_Iterable[_Union[SealedKey, _Mapping]]] = ...) -> None: ...

class SignedJob(_message.Message):
    __slots__ = ("job", "signature")
    JOB_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    job: bytes
    signature: bytes
    def __init__(self, job: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class Attestation(_message.Message):
    __slots__ = ("job_id", "executor", "module_hash", "input_chunks", "ok", "output_hash", "output_size", "error", "fuel_used", "started_unix_ms", "finished_unix_ms", "tee_kind", "tee_quote")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_FIELD_NUMBER: _ClassVar[int]
    MODULE_HASH_FIELD_NUMBER: _ClassVar[int]
    INPUT_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_HASH_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FUEL_USED_FIELD_NUMBER: _ClassVar[int]
    STARTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TEE_KIND_FIELD_NUMBER: _ClassVar[int]
    TEE_QUOTE_FIELD_NUMBER: _ClassVar[int]
    job_id: bytes
    executor: str
    module_hash: bytes
    input_chunks: _containers.RepeatedScalarFieldContainer[str]
    ok: bool
    output_hash: bytes
    output_size: int
    error: str
    fuel_used: int
    started_unix_ms: int
    finished_unix_ms: int
    tee_kind: str
    tee_quote: bytes
    def __init__(self, job_id: _Optional[bytes] = ..., executor: _Optional[str] = ..., module_hash: _Optional[bytes] = ..., input_chunks: _Optional[_Iterable[str]] = ..., ok: _Optional[bool] = ..., output_hash: _Optional[bytes] = ..., output_size: _Optional[int] = ..., error: _Optional[str] = ..., fuel_used: _Optional[int] = ..., started_unix_ms: _Optional[int] = ..., finished_unix_ms: _Optional[int] = ..., tee_kind: _Optional[str] = ..., tee_quote: _Optional[bytes] = ...) -> None: ...

class SignedAttestation(_message.Message):
    __slots__ = ("attestation", "signature")
    ATTESTATION_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    attestation: bytes
    signature: bytes
    def __init__(self, attestation: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...
