from stratos.v1 import ticket_pb2 as _ticket_pb2
from stratos.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RepairKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPAIR_KIND_UNSPECIFIED: _ClassVar[RepairKind]
    REPAIR_KIND_COPY: _ClassVar[RepairKind]
    REPAIR_KIND_REENCODE: _ClassVar[RepairKind]
    REPAIR_KIND_DELETE: _ClassVar[RepairKind]
REPAIR_KIND_UNSPECIFIED: RepairKind
REPAIR_KIND_COPY: RepairKind
REPAIR_KIND_REENCODE: RepairKind
REPAIR_KIND_DELETE: RepairKind

class ChunkSource(_message.Message):
    __slots__ = ("node_id", "address")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    address: str
    def __init__(self, node_id: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class ShareSource(_message.Message):
    __slots__ = ("index", "chunk_id", "holders")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDERS_FIELD_NUMBER: _ClassVar[int]
    index: int
    chunk_id: str
    holders: _containers.RepeatedCompositeFieldContainer[ChunkSource]
    def __init__(self, index: _Optional[int] = ..., chunk_id: _Optional[str] = ..., holders: _Optional[_Iterable[_Union[ChunkSource, _Mapping]]] = ...) -> None: ...

class RepairJob(_message.Message):
    __slots__ = ("job_id", "kind", "file_id", "chunk_id", "size", "target_node_id", "sources", "erasure", "share_index", "shares", "segment_stored_size", "reason", "planned_unix_ms", "ticket")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    TARGET_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    ERASURE_FIELD_NUMBER: _ClassVar[int]
    SHARE_INDEX_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_STORED_SIZE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PLANNED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TICKET_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    kind: RepairKind
    file_id: str
    chunk_id: str
    size: int
    target_node_id: str
    sources: _containers.RepeatedCompositeFieldContainer[ChunkSource]
    erasure: _types_pb2.ErasureCode
    share_index: int
    shares: _containers.RepeatedCompositeFieldContainer[ShareSource]
    segment_stored_size: int
    reason: str
    planned_unix_ms: int
    ticket: _ticket_pb2.SignedTicket
    def __init__(self, job_id: _Optional[str] = ..., kind: _Optional[_Union[RepairKind, str]] = ..., file_id: _Optional[str] = ..., chunk_id: _Optional[str] = ..., size: _Optional[int] = ..., target_node_id: _Optional[str] = ..., sources: _Optional[_Iterable[_Union[ChunkSource, _Mapping]]] = ..., erasure: _Optional[_Union[_types_pb2.ErasureCode, _Mapping]] = ..., share_index: _Optional[int] = ..., shares: _Optional[_Iterable[_Union[ShareSource, _Mapping]]] = ..., segment_stored_size: _Optional[int] = ..., reason: _Optional[str] = ..., planned_unix_ms: _Optional[int] = ..., ticket: _Optional[_Union[_ticket_pb2.SignedTicket, _Mapping]] = ...) -> None: ...

class RepairJobBatch(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[RepairJob]
    def __init__(self, jobs: _Optional[_Iterable[_Union[RepairJob, _Mapping]]] = ...) -> None: ...

class RepairResult(_message.Message):
    __slots__ = ("job_id", "kind", "file_id", "chunk_id", "node_id", "ok", "error", "bytes")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    kind: RepairKind
    file_id: str
    chunk_id: str
    node_id: str
    ok: bool
    error: str
    bytes: int
    def __init__(self, job_id: _Optional[str] = ..., kind: _Optional[_Union[RepairKind, str]] = ..., file_id: _Optional[str] = ..., chunk_id: _Optional[str] = ..., node_id: _Optional[str] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ..., bytes: _Optional[int] = ...) -> None: ...
