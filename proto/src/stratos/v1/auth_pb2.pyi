from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MeshRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESH_ROLE_UNSPECIFIED: _ClassVar[MeshRole]
    MESH_ROLE_STORAGE: _ClassVar[MeshRole]
    MESH_ROLE_META: _ClassVar[MeshRole]
    MESH_ROLE_VALIDATOR: _ClassVar[MeshRole]
    MESH_ROLE_INCENTIVE: _ClassVar[MeshRole]
    MESH_ROLE_COMPUTE: _ClassVar[MeshRole]
MESH_ROLE_UNSPECIFIED: MeshRole
MESH_ROLE_STORAGE: MeshRole
MESH_ROLE_META: MeshRole
MESH_ROLE_VALIDATOR: MeshRole
MESH_ROLE_INCENTIVE: MeshRole
MESH_ROLE_COMPUTE: MeshRole

class AdmittedNode(_message.Message):
    __slots__ = ("node_id", "role", "public_key")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    role: MeshRole
    public_key: bytes
    def __init__(self, node_id: _Optional[str] = ..., role: _Optional[_Union[MeshRole, str]] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class AdmissionList(_message.Message):
    __slots__ = ("mesh_id", "version", "issued_unix_ms", "nodes")
    MESH_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ISSUED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    mesh_id: str
    version: int
    issued_unix_ms: int
    nodes: _containers.RepeatedCompositeFieldContainer[AdmittedNode]
    def __init__(self, mesh_id: _Optional[str] = ..., version: _Optional[int] = ..., issued_unix_ms: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[AdmittedNode, _Mapping]]] = ...) -> None: ...

class SignedAdmissionList(_message.Message):
    __slots__ = ("list", "signature")
    LIST_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    list: bytes
    signature: bytes
    def __init__(self, list: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class AdminSignature(_message.Message):
    __slots__ = ("signed_unix_ms", "signature")
    SIGNED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    signed_unix_ms: int
    signature: bytes
    def __init__(self, signed_unix_ms: _Optional[int] = ..., signature: _Optional[bytes] = ...) -> None: ...
