from stratos.v1 import ticket_pb2 as _ticket_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Receipt(_message.Message):
    __slots__ = ("ticket_id", "chunk_id", "node_id", "action", "bytes", "serial")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    ticket_id: bytes
    chunk_id: str
    node_id: str
    action: _ticket_pb2.TicketAction
    bytes: int
    serial: int
    def __init__(self, ticket_id: _Optional[bytes] = ..., chunk_id: _Optional[str] = ..., node_id: _Optional[str] = ..., action: _Optional[_Union[_ticket_pb2.TicketAction, str]] = ..., bytes: _Optional[int] = ..., serial: _Optional[int] = ...) -> None: ...

class SignedReceipt(_message.Message):
    __slots__ = ("receipt", "signature")
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    receipt: bytes
    signature: bytes
    def __init__(self, receipt: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ReceiptBatch(_message.Message):
    __slots__ = ("node_id", "tickets", "receipts")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    tickets: _containers.RepeatedCompositeFieldContainer[_ticket_pb2.SignedTicket]
    receipts: _containers.RepeatedCompositeFieldContainer[SignedReceipt]
    def __init__(self, node_id: _Optional[str] = ..., tickets: _Optional[_Iterable[_Union[_ticket_pb2.SignedTicket, _Mapping]]] = ..., receipts: _Optional[_Iterable[_Union[SignedReceipt, _Mapping]]] = ...) -> None: ...

class SubmitReceiptsRequest(_message.Message):
    __slots__ = ("tickets", "receipts")
    TICKETS_FIELD_NUMBER: _ClassVar[int]
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    tickets: _containers.RepeatedCompositeFieldContainer[_ticket_pb2.SignedTicket]
    receipts: _containers.RepeatedCompositeFieldContainer[SignedReceipt]
    def __init__(self, tickets: _Optional[_Iterable[_Union[_ticket_pb2.SignedTicket, _Mapping]]] = ..., receipts: _Optional[_Iterable[_Union[SignedReceipt, _Mapping]]] = ...) -> None: ...

class SubmitReceiptsResponse(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    def __init__(self, accepted: _Optional[int] = ...) -> None: ...

class EpochMark(_message.Message):
    __slots__ = ("epoch", "height")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    height: int
    def __init__(self, epoch: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...
