from stratos.v1 import types_pb2 as _types_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Heartbeat(_message.Message):
    __slots__ = ("node", "sent_unix_ms", "chunk_count")
    NODE_FIELD_NUMBER: _ClassVar[int]
    SENT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    node: _types_pb2.NodeInfo
    sent_unix_ms: int
    chunk_count: int
    def __init__(self, node: _Optional[_Union[_types_pb2.NodeInfo, _Mapping]] = ..., sent_unix_ms: _Optional[int] = ..., chunk_count: _Optional[int] = ...) -> None: ...

class FileEvent(_message.Message):
    __slots__ = ("file_id", "summary")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    summary: _types_pb2.FileSummary
    def __init__(self, file_id: _Optional[str] = ..., summary: _Optional[_Union[_types_pb2.FileSummary, _Mapping]] = ...) -> None: ...

class AuditResult(_message.Message):
    __slots__ = ("node_id", "chunk_id", "file_id", "passed", "reason", "checked_unix_ms")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHECKED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    chunk_id: str
    file_id: str
    passed: bool
    reason: str
    checked_unix_ms: int
    def __init__(self, node_id: _Optional[str] = ..., chunk_id: _Optional[str] = ..., file_id: _Optional[str] = ..., passed: _Optional[bool] = ..., reason: _Optional[str] = ..., checked_unix_ms: _Optional[int] = ...) -> None: ...
