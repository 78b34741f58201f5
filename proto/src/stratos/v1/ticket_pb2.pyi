from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TicketAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_ACTION_UNSPECIFIED: _ClassVar[TicketAction]
    TICKET_ACTION_PUT: _ClassVar[TicketAction]
    TICKET_ACTION_GET: _ClassVar[TicketAction]
    TICKET_ACTION_DELETE: _ClassVar[TicketAction]
    TICKET_ACTION_LIST: _ClassVar[TicketAction]
    TICKET_ACTION_AUDIT: _ClassVar[TicketAction]
TICKET_ACTION_UNSPECIFIED: TicketAction
TICKET_ACTION_PUT: TicketAction
TICKET_ACTION_GET: TicketAction
TICKET_ACTION_DELETE: TicketAction
TICKET_ACTION_LIST: TicketAction
TICKET_ACTION_AUDIT: TicketAction

class Ticket(_message.Message):
    __slots__ = ("ticket_id", "issuer_node_id", "holder_public_key", "payer", "actions", "chunk_ids", "node_ids", "byte_budget", "issued_unix_ms", "expires_unix_ms", "file_id")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    PAYER_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    BYTE_BUDGET_FIELD_NUMBER: _ClassVar[int]
    ISSUED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: bytes
    issuer_node_id: str
    holder_public_key: bytes
    payer: str
    actions: _containers.RepeatedScalarFieldContainer[TicketAction]
    chunk_ids: _containers.RepeatedScalarFieldContainer[str]
    node_ids: _containers.RepeatedScalarFieldContainer[str]
    byte_budget: int
    issued_unix_ms: int
    expires_unix_ms: int
    file_id: str
    def __init__(self, ticket_id: _Optional[bytes] = ..., issuer_node_id: _Optional[str] = ..., holder_public_key: _Optional[bytes] = ..., payer: _Optional[str] = ..., actions: _Optional[_Iterable[_Union[TicketAction, str]]] = ..., chunk_ids: _Optional[_Iterable[str]] = ..., node_ids: _Optional[_Iterable[str]] = ..., byte_budget: _Optional[int] = ..., issued_unix_ms: _Optional[int] = ..., expires_unix_ms: _Optional[int] = ..., file_id: _Optional[str] = ...) -> None: ...

class SignedTicket(_message.Message):
    __slots__ = ("ticket", "signature")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ticket: bytes
    signature: bytes
    def __init__(self, ticket: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class TicketProof(_message.Message):
    __slots__ = ("ticket", "signature")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    ticket: SignedTicket
    signature: bytes
    def __init__(self, ticket: _Optional[_Union[SignedTicket, _Mapping]] = ..., signature: _Optional[bytes] = ...) -> None: ...

class TicketAsk(_message.Message):
    __slots__ = ("holder_public_key", "unix_ms", "signature")
    HOLDER_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    holder_public_key: bytes
    unix_ms: int
    signature: bytes
    def __init__(self, holder_public_key: _Optional[bytes] = ..., unix_ms: _Optional[int] = ..., signature: _Optional[bytes] = ...) -> None: ...
