from stratos.v1 import receipt_pb2 as _receipt_pb2
from stratos.v1 import ticket_pb2 as _ticket_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListChunksRequest(_message.Message):
    __slots__ = ("start_after", "page_size", "auth")
    START_AFTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    start_after: str
    page_size: int
    auth: _ticket_pb2.TicketProof
    def __init__(self, start_after: _Optional[str] = ..., page_size: _Optional[int] = ..., auth: _Optional[_Union[_ticket_pb2.TicketProof, _Mapping]] = ...) -> None: ...

class ChunkEntry(_message.Message):
    __slots__ = ("chunk_id", "size", "stored_unix_ms")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    STORED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    size: int
    stored_unix_ms: int
    def __init__(self, chunk_id: _Optional[str] = ..., size: _Optional[int] = ..., stored_unix_ms: _Optional[int] = ...) -> None: ...

class ListChunksResponse(_message.Message):
    __slots__ = ("chunks",)
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    chunks: _containers.RepeatedCompositeFieldContainer[ChunkEntry]
    def __init__(self, chunks: _Optional[_Iterable[_Union[ChunkEntry, _Mapping]]] = ...) -> None: ...

class ByteRange(_message.Message):
    __slots__ = ("offset", "length")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    offset: int
    length: int
    def __init__(self, offset: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class AuditRequest(_message.Message):
    __slots__ = ("chunk_id", "nonce", "ranges", "auth")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    nonce: bytes
    ranges: _containers.RepeatedCompositeFieldContainer[ByteRange]
    auth: _ticket_pb2.TicketProof
    def __init__(self, chunk_id: _Optional[str] = ..., nonce: _Optional[bytes] = ..., ranges: _Optional[_Iterable[_Union[ByteRange, _Mapping]]] = ..., auth: _Optional[_Union[_ticket_pb2.TicketProof, _Mapping]] = ...) -> None: ...

class AuditResponse(_message.Message):
    __slots__ = ("digest",)
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    digest: bytes
    def __init__(self, digest: _Optional[bytes] = ...) -> None: ...

class PutChunkHeader(_message.Message):
    __slots__ = ("chunk_id", "size", "auth")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    size: int
    auth: _ticket_pb2.TicketProof
    def __init__(self, chunk_id: _Optional[str] = ..., size: _Optional[int] = ..., auth: _Optional[_Union[_ticket_pb2.TicketProof, _Mapping]] = ...) -> None: ...

class PutChunkRequest(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: PutChunkHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[PutChunkHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class PutChunkResponse(_message.Message):
    __slots__ = ("chunk_id", "size", "already_present")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    size: int
    already_present: bool
    def __init__(self, chunk_id: _Optional[str] = ..., size: _Optional[int] = ..., already_present: _Optional[bool] = ...) -> None: ...

class GetChunkRequest(_message.Message):
    __slots__ = ("chunk_id", "offset", "length", "auth")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    offset: int
    length: int
    auth: _ticket_pb2.TicketProof
    def __init__(self, chunk_id: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., auth: _Optional[_Union[_ticket_pb2.TicketProof, _Mapping]] = ...) -> None: ...

class GetChunkResponse(_message.Message):
    __slots__ = ("data", "total_size")
    DATA_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    total_size: int
    def __init__(self, data: _Optional[bytes] = ..., total_size: _Optional[int] = ...) -> None: ...

class HasChunksRequest(_message.Message):
    __slots__ = ("chunk_ids",)
    CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    chunk_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, chunk_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class HasChunksResponse(_message.Message):
    __slots__ = ("present",)
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    present: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, present: _Optional[_Iterable[bool]] = ...) -> None: ...

class DeleteChunkRequest(_message.Message):
    __slots__ = ("chunk_id", "auth")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    auth: _ticket_pb2.TicketProof
    def __init__(self, chunk_id: _Optional[str] = ..., auth: _Optional[_Union[_ticket_pb2.TicketProof, _Mapping]] = ...) -> None: ...

class DeleteChunkResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class StatRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatResponse(_message.Message):
    __slots__ = ("node_id", "zone", "capacity_bytes", "used_bytes", "chunk_count")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    zone: str
    capacity_bytes: int
    used_bytes: int
    chunk_count: int
    def __init__(self, node_id: _Optional[str] = ..., zone: _Optional[str] = ..., capacity_bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ..., chunk_count: _Optional[int] = ...) -> None: ...
