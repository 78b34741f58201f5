from stratos.v1 import compute_pb2 as _compute_pb2
from stratos.v1 import auth_pb2 as _auth_pb2
from stratos.v1 import ticket_pb2 as _ticket_pb2
from stratos.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DrainState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DRAIN_STATE_UNSPECIFIED: _ClassVar[DrainState]
    DRAIN_STATE_DRAINING: _ClassVar[DrainState]
    DRAIN_STATE_DRAINED: _ClassVar[DrainState]
    DRAIN_STATE_CANCELLED: _ClassVar[DrainState]
DRAIN_STATE_UNSPECIFIED: DrainState
DRAIN_STATE_DRAINING: DrainState
DRAIN_STATE_DRAINED: DrainState
DRAIN_STATE_CANCELLED: DrainState

class PlanWriteRequest(_message.Message):
    __slots__ = ("replicas", "size")
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    replicas: int
    size: int
    def __init__(self, replicas: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class PlanWriteResponse(_message.Message):
    __slots__ = ("live_nodes", "segment_size")
    LIVE_NODES_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_SIZE_FIELD_NUMBER: _ClassVar[int]
    live_nodes: int
    segment_size: int
    def __init__(self, live_nodes: _Optional[int] = ..., segment_size: _Optional[int] = ...) -> None: ...

class ChunkToPlace(_message.Message):
    __slots__ = ("chunk_id", "size")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    size: int
    def __init__(self, chunk_id: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class PlaceChunksRequest(_message.Message):
    __slots__ = ("chunks", "replicas", "exclude_node_ids", "extra", "ask", "file_size")
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    ASK_FIELD_NUMBER: _ClassVar[int]
    FILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    chunks: _containers.RepeatedCompositeFieldContainer[ChunkToPlace]
    replicas: int
    exclude_node_ids: _containers.RepeatedScalarFieldContainer[str]
    extra: int
    ask: _ticket_pb2.TicketAsk
    file_size: int
    def __init__(self, chunks: _Optional[_Iterable[_Union[ChunkToPlace, _Mapping]]] = ..., replicas: _Optional[int] = ..., exclude_node_ids: _Optional[_Iterable[str]] = ..., extra: _Optional[int] = ..., ask: _Optional[_Union[_ticket_pb2.TicketAsk, _Mapping]] = ..., file_size: _Optional[int] = ...) -> None: ...

class NodeAddress(_message.Message):
    __slots__ = ("node_id", "address", "zone", "state")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    address: str
    zone: str
    state: _types_pb2.NodeState
    def __init__(self, node_id: _Optional[str] = ..., address: _Optional[str] = ..., zone: _Optional[str] = ..., state: _Optional[_Union[_types_pb2.NodeState, str]] = ...) -> None: ...

class ChunkPlacement(_message.Message):
    __slots__ = ("chunk_id", "targets")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    targets: _containers.RepeatedCompositeFieldContainer[NodeAddress]
    def __init__(self, chunk_id: _Optional[str] = ..., targets: _Optional[_Iterable[_Union[NodeAddress, _Mapping]]] = ...) -> None: ...

class PlaceChunksResponse(_message.Message):
    __slots__ = ("placements", "tickets")
    PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    placements: _containers.RepeatedCompositeFieldContainer[ChunkPlacement]
    tickets: _containers.RepeatedCompositeFieldContainer[_ticket_pb2.SignedTicket]
    def __init__(self, placements: _Optional[_Iterable[_Union[ChunkPlacement, _Mapping]]] = ..., tickets: _Optional[_Iterable[_Union[_ticket_pb2.SignedTicket, _Mapping]]] = ...) -> None: ...

class CommitManifestRequest(_message.Message):
    __slots__ = ("signed",)
    SIGNED_FIELD_NUMBER: _ClassVar[int]
    signed: _types_pb2.SignedManifest
    def __init__(self, signed: _Optional[_Union[_types_pb2.SignedManifest, _Mapping]] = ...) -> None: ...

class CommitManifestResponse(_message.Message):
    __slots__ = ("summary",)
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    summary: _types_pb2.FileSummary
    def __init__(self, summary: _Optional[_Union[_types_pb2.FileSummary, _Mapping]] = ...) -> None: ...

class GetManifestRequest(_message.Message):
    __slots__ = ("file_id", "ask", "job")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    ASK_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    ask: _ticket_pb2.TicketAsk
    job: _compute_pb2.SignedJob
    def __init__(self, file_id: _Optional[str] = ..., ask: _Optional[_Union[_ticket_pb2.TicketAsk, _Mapping]] = ..., job: _Optional[_Union[_compute_pb2.SignedJob, _Mapping]] = ...) -> None: ...

class GetManifestResponse(_message.Message):
    __slots__ = ("signed", "nodes", "locations", "tickets")
    SIGNED_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    signed: _types_pb2.SignedManifest
    nodes: _containers.RepeatedCompositeFieldContainer[NodeAddress]
    locations: _types_pb2.FileLocations
    tickets: _containers.RepeatedCompositeFieldContainer[_ticket_pb2.SignedTicket]
    def __init__(self, signed: _Optional[_Union[_types_pb2.SignedManifest, _Mapping]] = ..., nodes: _Optional[_Iterable[_Union[NodeAddress, _Mapping]]] = ..., locations: _Optional[_Union[_types_pb2.FileLocations, _Mapping]] = ..., tickets: _Optional[_Iterable[_Union[_ticket_pb2.SignedTicket, _Mapping]]] = ...) -> None: ...

class ListFilesRequest(_message.Message):
    __slots__ = ("limit", "page_token", "owner_public_key")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OWNER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    limit: int
    page_token: str
    owner_public_key: bytes
    def __init__(self, limit: _Optional[int] = ..., page_token: _Optional[str] = ..., owner_public_key: _Optional[bytes] = ...) -> None: ...

class ListFilesResponse(_message.Message):
    __slots__ = ("files", "next_page_token")
    FILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[_types_pb2.FileSummary]
    next_page_token: str
    def __init__(self, files: _Optional[_Iterable[_Union[_types_pb2.FileSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteFileRequest(_message.Message):
    __slots__ = ("file_id", "unix_ms", "owner_public_key", "signature")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    OWNER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    unix_ms: int
    owner_public_key: bytes
    signature: bytes
    def __init__(self, file_id: _Optional[str] = ..., unix_ms: _Optional[int] = ..., owner_public_key: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class DeleteFileResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[_types_pb2.NodeStatus]
    def __init__(self, nodes: _Optional[_Iterable[_Union[_types_pb2.NodeStatus, _Mapping]]] = ...) -> None: ...

class DrainNodeRequest(_message.Message):
    __slots__ = ("node_id", "cancel", "admin")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    cancel: bool
    admin: _auth_pb2.AdminSignature
    def __init__(self, node_id: _Optional[str] = ..., cancel: _Optional[bool] = ..., admin: _Optional[_Union[_auth_pb2.AdminSignature, _Mapping]] = ...) -> None: ...

class GetDrainStatusRequest(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class DrainStatus(_message.Message):
    __slots__ = ("node_id", "state", "chunks_left", "bytes_left", "chunks_at_start", "bytes_at_start", "started_unix_ms")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_LEFT_FIELD_NUMBER: _ClassVar[int]
    BYTES_LEFT_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_AT_START_FIELD_NUMBER: _ClassVar[int]
    BYTES_AT_START_FIELD_NUMBER: _ClassVar[int]
    STARTED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    state: DrainState
    chunks_left: int
    bytes_left: int
    chunks_at_start: int
    bytes_at_start: int
    started_unix_ms: int
    def __init__(self, node_id: _Optional[str] = ..., state: _Optional[_Union[DrainState, str]] = ..., chunks_left: _Optional[int] = ..., bytes_left: _Optional[int] = ..., chunks_at_start: _Optional[int] = ..., bytes_at_start: _Optional[int] = ..., started_unix_ms: _Optional[int] = ...) -> None: ...

class GetHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeHealth(_message.Message):
    __slots__ = ("node_id", "state", "chunks", "bytes", "draining", "jobs_outstanding")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    JOBS_OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    state: _types_pb2.NodeState
    chunks: int
    bytes: int
    draining: bool
    jobs_outstanding: int
    def __init__(self, node_id: _Optional[str] = ..., state: _Optional[_Union[_types_pb2.NodeState, str]] = ..., chunks: _Optional[int] = ..., bytes: _Optional[int] = ..., draining: _Optional[bool] = ..., jobs_outstanding: _Optional[int] = ...) -> None: ...

class GetHealthResponse(_message.Message):
    __slots__ = ("files", "healthy", "degraded", "repairing", "unrecoverable", "bytes_to_repair", "repair_bytes_per_s", "eta_s", "nodes", "bytes_stuck", "bytes_lost", "stuck", "eta_reason", "lost_files", "waiting_on")
    FILES_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    REPAIRING_FIELD_NUMBER: _ClassVar[int]
    UNRECOVERABLE_FIELD_NUMBER: _ClassVar[int]
    BYTES_TO_REPAIR_FIELD_NUMBER: _ClassVar[int]
    REPAIR_BYTES_PER_S_FIELD_NUMBER: _ClassVar[int]
    ETA_S_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    BYTES_STUCK_FIELD_NUMBER: _ClassVar[int]
    BYTES_LOST_FIELD_NUMBER: _ClassVar[int]
    STUCK_FIELD_NUMBER: _ClassVar[int]
    ETA_REASON_FIELD_NUMBER: _ClassVar[int]
    LOST_FILES_FIELD_NUMBER: _ClassVar[int]
    WAITING_ON_FIELD_NUMBER: _ClassVar[int]
    files: int
    healthy: int
    degraded: int
    repairing: int
    unrecoverable: int
    bytes_to_repair: int
    repair_bytes_per_s: float
    eta_s: float
    nodes: _containers.RepeatedCompositeFieldContainer[NodeHealth]
    bytes_stuck: int
    bytes_lost: int
    stuck: _containers.RepeatedCompositeFieldContainer[StuckReason]
    eta_reason: str
    lost_files: _containers.RepeatedCompositeFieldContainer[LostFile]
    waiting_on: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, files: _Optional[int] = ..., healthy: _Optional[int] = ..., degraded: _Optional[int] = ..., repairing: _Optional[int] = ..., unrecoverable: _Optional[int] = ..., bytes_to_repair: _Optional[int] = ..., repair_bytes_per_s: _Optional[float] = ..., eta_s: _Optional[float] = ..., nodes: _Optional[_Iterable[_Union[NodeHealth, _Mapping]]] = ..., bytes_stuck: _Optional[int] = ..., bytes_lost: _Optional[int] = ..., stuck: _Optional[_Iterable[_Union[StuckReason, _Mapping]]] = ..., eta_reason: _Optional[str] = ..., lost_files: _Optional[_Iterable[_Union[LostFile, _Mapping]]] = ..., waiting_on: _Optional[_Iterable[str]] = ...) -> None: ...

class StuckReason(_message.Message):
    __slots__ = ("reason", "chunks", "bytes")
    REASON_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    reason: str
    chunks: int
    bytes: int
    def __init__(self, reason: _Optional[str] = ..., chunks: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class LostFile(_message.Message):
    __slots__ = ("file_id", "reason")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    reason: str
    def __init__(self, file_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
