from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_ROLE_UNSPECIFIED: _ClassVar[NodeRole]
    NODE_ROLE_RESOURCE: _ClassVar[NodeRole]
    NODE_ROLE_META: _ClassVar[NodeRole]
NODE_ROLE_UNSPECIFIED: NodeRole
NODE_ROLE_RESOURCE: NodeRole
NODE_ROLE_META: NodeRole

class Tx(_message.Message):
    __slots__ = ("body", "public_key", "signature")
    BODY_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    public_key: bytes
    signature: bytes
    def __init__(self, body: _Optional[bytes] = ..., public_key: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class TxBody(_message.Message):
    __slots__ = ("chain_id", "nonce", "fee", "transfer", "register_node", "unbond", "prepay_ozone", "epoch_report", "slash")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    REGISTER_NODE_FIELD_NUMBER: _ClassVar[int]
    UNBOND_FIELD_NUMBER: _ClassVar[int]
    PREPAY_OZONE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_REPORT_FIELD_NUMBER: _ClassVar[int]
    SLASH_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    nonce: int
    fee: int
    transfer: Transfer
    register_node: RegisterNode
    unbond: Unbond
    prepay_ozone: PrepayOzone
    epoch_report: EpochReport
    slash: Slash
    def __init__(self, chain_id: _Optional[str] = ..., nonce: _Optional[int] = ..., fee: _Optional[int] = ..., transfer: _Optional[_Union[Transfer, _Mapping]] = ..., register_node: _Optional[_Union[RegisterNode, _Mapping]] = ..., unbond: _Optional[_Union[Unbond, _Mapping]] = ..., prepay_ozone: _Optional[_Union[PrepayOzone, _Mapping]] = ..., epoch_report: _Optional[_Union[EpochReport, _Mapping]] = ..., slash: _Optional[_Union[Slash, _Mapping]] = ...) -> None: ...

class Transfer(_message.Message):
    __slots__ = ("to", "amount")
    TO_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    to: str
    amount: int
    def __init__(self, to: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class RegisterNode(_message.Message):
    __slots__ = ("role", "deposit")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    role: NodeRole
    deposit: int
    def __init__(self, role: _Optional[_Union[NodeRole, str]] = ..., deposit: _Optional[int] = ...) -> None: ...

class Unbond(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PrepayOzone(_message.Message):
    __slots__ = ("amount",)
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    amount: int
    def __init__(self, amount: _Optional[int] = ...) -> None: ...

class NodeTraffic(_message.Message):
    __slots__ = ("node", "bytes", "audits_failed")
    NODE_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    AUDITS_FAILED_FIELD_NUMBER: _ClassVar[int]
    node: str
    bytes: int
    audits_failed: int
    def __init__(self, node: _Optional[str] = ..., bytes: _Optional[int] = ..., audits_failed: _Optional[int] = ...) -> None: ...

class PayerTraffic(_message.Message):
    __slots__ = ("payer", "ozone")
    PAYER_FIELD_NUMBER: _ClassVar[int]
    OZONE_FIELD_NUMBER: _ClassVar[int]
    payer: str
    ozone: int
    def __init__(self, payer: _Optional[str] = ..., ozone: _Optional[int] = ...) -> None: ...

class ReportSignature(_message.Message):
    __slots__ = ("public_key", "signature")
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    public_key: bytes
    signature: bytes
    def __init__(self, public_key: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class EpochReport(_message.Message):
    __slots__ = ("epoch", "traffic", "payers", "signatures")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    PAYERS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    traffic: _containers.RepeatedCompositeFieldContainer[NodeTraffic]
    payers: _containers.RepeatedCompositeFieldContainer[PayerTraffic]
    signatures: _containers.RepeatedCompositeFieldContainer[ReportSignature]
    def __init__(self, epoch: _Optional[int] = ..., traffic: _Optional[_Iterable[_Union[NodeTraffic, _Mapping]]] = ..., payers: _Optional[_Iterable[_Union[PayerTraffic, _Mapping]]] = ..., signatures: _Optional[_Iterable[_Union[ReportSignature, _Mapping]]] = ...) -> None: ...

class Slash(_message.Message):
    __slots__ = ("evidence",)
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    evidence: bytes
    def __init__(self, evidence: _Optional[bytes] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("address", "balance", "nonce", "ozone")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    OZONE_FIELD_NUMBER: _ClassVar[int]
    address: str
    balance: int
    nonce: int
    ozone: int
    def __init__(self, address: _Optional[str] = ..., balance: _Optional[int] = ..., nonce: _Optional[int] = ..., ozone: _Optional[int] = ...) -> None: ...

class NodeRecord(_message.Message):
    __slots__ = ("address", "role", "deposit", "unbonding_until_height", "debt", "suspended")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    UNBONDING_UNTIL_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DEBT_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    address: str
    role: NodeRole
    deposit: int
    unbonding_until_height: int
    debt: int
    suspended: bool
    def __init__(self, address: _Optional[str] = ..., role: _Optional[_Union[NodeRole, str]] = ..., deposit: _Optional[int] = ..., unbonding_until_height: _Optional[int] = ..., debt: _Optional[int] = ..., suspended: _Optional[bool] = ...) -> None: ...

class Credit(_message.Message):
    __slots__ = ("address", "amount", "debt_paid", "slashed")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DEBT_PAID_FIELD_NUMBER: _ClassVar[int]
    SLASHED_FIELD_NUMBER: _ClassVar[int]
    address: str
    amount: int
    debt_paid: int
    slashed: int
    def __init__(self, address: _Optional[str] = ..., amount: _Optional[int] = ..., debt_paid: _Optional[int] = ..., slashed: _Optional[int] = ...) -> None: ...

class TxResult(_message.Message):
    __slots__ = ("code", "log", "credits")
    CODE_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    code: int
    log: str
    credits: _containers.RepeatedCompositeFieldContainer[Credit]
    def __init__(self, code: _Optional[int] = ..., log: _Optional[str] = ..., credits: _Optional[_Iterable[_Union[Credit, _Mapping]]] = ...) -> None: ...

class BlockHeader(_message.Message):
    __slots__ = ("chain_id", "height", "time_unix_ms", "prev_block_hash", "app_hash", "proposer", "tx_root")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PREV_BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    APP_HASH_FIELD_NUMBER: _ClassVar[int]
    PROPOSER_FIELD_NUMBER: _ClassVar[int]
    TX_ROOT_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    height: int
    time_unix_ms: int
    prev_block_hash: bytes
    app_hash: bytes
    proposer: str
    tx_root: bytes
    def __init__(self, chain_id: _Optional[str] = ..., height: _Optional[int] = ..., time_unix_ms: _Optional[int] = ..., prev_block_hash: _Optional[bytes] = ..., app_hash: _Optional[bytes] = ..., proposer: _Optional[str] = ..., tx_root: _Optional[bytes] = ...) -> None: ...

class Block(_message.Message):
    __slots__ = ("header", "txs")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    TXS_FIELD_NUMBER: _ClassVar[int]
    header: BlockHeader
    txs: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, header: _Optional[_Union[BlockHeader, _Mapping]] = ..., txs: _Optional[_Iterable[bytes]] = ...) -> None: ...

class BlockResults(_message.Message):
    __slots__ = ("height", "results", "app_hash")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    APP_HASH_FIELD_NUMBER: _ClassVar[int]
    height: int
    results: _containers.RepeatedCompositeFieldContainer[TxResult]
    app_hash: bytes
    def __init__(self, height: _Optional[int] = ..., results: _Optional[_Iterable[_Union[TxResult, _Mapping]]] = ..., app_hash: _Optional[bytes] = ...) -> None: ...
