from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_STATE_UNSPECIFIED: _ClassVar[NodeState]
    NODE_STATE_LIVE: _ClassVar[NodeState]
    NODE_STATE_SUSPECT: _ClassVar[NodeState]
    NODE_STATE_LOST: _ClassVar[NodeState]

class Cipher(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CIPHER_UNSPECIFIED: _ClassVar[Cipher]
    CIPHER_AES_256_GCM: _ClassVar[Cipher]
NODE_STATE_UNSPECIFIED: NodeState
NODE_STATE_LIVE: NodeState
NODE_STATE_SUSPECT: NodeState
NODE_STATE_LOST: NodeState
CIPHER_UNSPECIFIED: Cipher
CIPHER_AES_256_GCM: Cipher

class NodeInfo(_message.Message):
    __slots__ = ("node_id", "address", "zone", "capacity_bytes", "used_bytes", "public_key", "version")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    address: str
    zone: str
    capacity_bytes: int
    used_bytes: int
    public_key: bytes
    version: str
    def __init__(self, node_id: _Optional[str] = ..., address: _Optional[str] = ..., zone: _Optional[str] = ..., capacity_bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ..., public_key: _Optional[bytes] = ..., version: _Optional[str] = ...) -> None: ...

class NodeStatus(_message.Message):
    __slots__ = ("info", "state", "last_heartbeat_unix_ms", "chunk_count", "draining")
    INFO_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    info: NodeInfo
    state: NodeState
    last_heartbeat_unix_ms: int
    chunk_count: int
    draining: bool
    def __init__(self, info: _Optional[_Union[NodeInfo, _Mapping]] = ..., state: _Optional[_Union[NodeState, str]] = ..., last_heartbeat_unix_ms: _Optional[int] = ..., chunk_count: _Optional[int] = ..., draining: _Optional[bool] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("index", "chunk_id", "plain_size", "stored_size", "node_ids", "shares")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    PLAIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    STORED_SIZE_FIELD_NUMBER: _ClassVar[int]
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    index: int
    chunk_id: str
    plain_size: int
    stored_size: int
    node_ids: _containers.RepeatedScalarFieldContainer[str]
    shares: _containers.RepeatedCompositeFieldContainer[Share]
    def __init__(self, index: _Optional[int] = ..., chunk_id: _Optional[str] = ..., plain_size: _Optional[int] = ..., stored_size: _Optional[int] = ..., node_ids: _Optional[_Iterable[str]] = ..., shares: _Optional[_Iterable[_Union[Share, _Mapping]]] = ...) -> None: ...

class ErasureCode(_message.Message):
    __slots__ = ("data_shares", "parity_shares")
    DATA_SHARES_FIELD_NUMBER: _ClassVar[int]
    PARITY_SHARES_FIELD_NUMBER: _ClassVar[int]
    data_shares: int
    parity_shares: int
    def __init__(self, data_shares: _Optional[int] = ..., parity_shares: _Optional[int] = ...) -> None: ...

class Share(_message.Message):
    __slots__ = ("index", "chunk_id", "size", "node_ids")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    index: int
    chunk_id: str
    size: int
    node_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, index: _Optional[int] = ..., chunk_id: _Optional[str] = ..., size: _Optional[int] = ..., node_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ChunkLocation(_message.Message):
    __slots__ = ("chunk_id", "node_ids")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    node_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, chunk_id: _Optional[str] = ..., node_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class FileLocations(_message.Message):
    __slots__ = ("file_id", "chunks")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    chunks: _containers.RepeatedCompositeFieldContainer[ChunkLocation]
    def __init__(self, file_id: _Optional[str] = ..., chunks: _Optional[_Iterable[_Union[ChunkLocation, _Mapping]]] = ...) -> None: ...

class FileMetadata(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SealedMetadata(_message.Message):
    __slots__ = ("version", "nonce", "ciphertext")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    version: int
    nonce: bytes
    ciphertext: bytes
    def __init__(self, version: _Optional[int] = ..., nonce: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ...) -> None: ...

class Manifest(_message.Message):
    __slots__ = ("file_id", "legacy_name", "size", "segment_size", "replicas", "cipher", "created_unix_ms", "segments", "expires_unix_ms", "erasure", "metadata")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    LEGACY_NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_SIZE_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    CIPHER_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ERASURE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    legacy_name: str
    size: int
    segment_size: int
    replicas: int
    cipher: Cipher
    created_unix_ms: int
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    expires_unix_ms: int
    erasure: ErasureCode
    metadata: SealedMetadata
    def __init__(self, file_id: _Optional[str] = ..., legacy_name: _Optional[str] = ..., size: _Optional[int] = ..., segment_size: _Optional[int] = ..., replicas: _Optional[int] = ..., cipher: _Optional[_Union[Cipher, str]] = ..., created_unix_ms: _Optional[int] = ..., segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ..., expires_unix_ms: _Optional[int] = ..., erasure: _Optional[_Union[ErasureCode, _Mapping]] = ..., metadata: _Optional[_Union[SealedMetadata, _Mapping]] = ...) -> None: ...

class SignedManifest(_message.Message):
    __slots__ = ("manifest", "owner_public_key", "signature")
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    OWNER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    manifest: bytes
    owner_public_key: bytes
    signature: bytes
    def __init__(self, manifest: _Optional[bytes] = ..., owner_public_key: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class FileSummary(_message.Message):
    __slots__ = ("file_id", "size", "replicas", "segments", "created_unix_ms", "owner_public_key", "expires_unix_ms", "erasure", "metadata")
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    OWNER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ERASURE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    file_id: str
    size: int
    replicas: int
    segments: int
    created_unix_ms: int
    owner_public_key: bytes
    expires_unix_ms: int
    erasure: ErasureCode
    metadata: SealedMetadata
    def __init__(self, file_id: _Optional[str] = ..., size: _Optional[int] = ..., replicas: _Optional[int] = ..., segments: _Optional[int] = ..., created_unix_ms: _Optional[int] = ..., owner_public_key: _Optional[bytes] = ..., expires_unix_ms: _Optional[int] = ..., erasure: _Optional[_Union[ErasureCode, _Mapping]] = ..., metadata: _Optional[_Union[SealedMetadata, _Mapping]] = ...) -> None: ...
