from stratos.v1 import bft_pb2 as _bft_pb2
from stratos.v1 import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TxState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TX_STATE_UNSPECIFIED: _ClassVar[TxState]
    TX_STATE_UNKNOWN: _ClassVar[TxState]
    TX_STATE_PENDING: _ClassVar[TxState]
    TX_STATE_COMMITTED: _ClassVar[TxState]
    TX_STATE_DROPPED: _ClassVar[TxState]
TX_STATE_UNSPECIFIED: TxState
TX_STATE_UNKNOWN: TxState
TX_STATE_PENDING: TxState
TX_STATE_COMMITTED: TxState
TX_STATE_DROPPED: TxState

class SubmitTxRequest(_message.Message):
    __slots__ = ("tx", "wait_for_commit", "timeout_ms")
    TX_FIELD_NUMBER: _ClassVar[int]
    WAIT_FOR_COMMIT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    tx: bytes
    wait_for_commit: bool
    timeout_ms: int
    def __init__(self, tx: _Optional[bytes] = ..., wait_for_commit: _Optional[bool] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class SubmitTxsRequest(_message.Message):
    __slots__ = ("tx",)
    TX_FIELD_NUMBER: _ClassVar[int]
    tx: bytes
    def __init__(self, tx: _Optional[bytes] = ...) -> None: ...

class SubmitTxsResponse(_message.Message):
    __slots__ = ("tx_hash", "code", "error")
    TX_HASH_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    tx_hash: str
    code: int
    error: str
    def __init__(self, tx_hash: _Optional[str] = ..., code: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class SubmitTxResponse(_message.Message):
    __slots__ = ("tx_hash", "height", "result")
    TX_HASH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    tx_hash: str
    height: int
    result: _ledger_pb2.TxResult
    def __init__(self, tx_hash: _Optional[str] = ..., height: _Optional[int] = ..., result: _Optional[_Union[_ledger_pb2.TxResult, _Mapping]] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("address",)
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    address: str
    def __init__(self, address: _Optional[str] = ...) -> None: ...

class GetAccountResponse(_message.Message):
    __slots__ = ("account", "height", "pending_nonce", "node")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PENDING_NONCE_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    account: _ledger_pb2.Account
    height: int
    pending_nonce: int
    node: _ledger_pb2.NodeRecord
    def __init__(self, account: _Optional[_Union[_ledger_pb2.Account, _Mapping]] = ..., height: _Optional[int] = ..., pending_nonce: _Optional[int] = ..., node: _Optional[_Union[_ledger_pb2.NodeRecord, _Mapping]] = ...) -> None: ...

class GetTxRequest(_message.Message):
    __slots__ = ("tx_hash", "wait_ms")
    TX_HASH_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    tx_hash: str
    wait_ms: int
    def __init__(self, tx_hash: _Optional[str] = ..., wait_ms: _Optional[int] = ...) -> None: ...

class GetTxResponse(_message.Message):
    __slots__ = ("tx_hash", "state", "height", "index", "result", "tx", "latest_height")
    TX_HASH_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    TX_FIELD_NUMBER: _ClassVar[int]
    LATEST_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    tx_hash: str
    state: TxState
    height: int
    index: int
    result: _ledger_pb2.TxResult
    tx: bytes
    latest_height: int
    def __init__(self, tx_hash: _Optional[str] = ..., state: _Optional[_Union[TxState, str]] = ..., height: _Optional[int] = ..., index: _Optional[int] = ..., result: _Optional[_Union[_ledger_pb2.TxResult, _Mapping]] = ..., tx: _Optional[bytes] = ..., latest_height: _Optional[int] = ...) -> None: ...

class GetBlockRequest(_message.Message):
    __slots__ = ("height",)
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    height: int
    def __init__(self, height: _Optional[int] = ...) -> None: ...

class GetBlockResponse(_message.Message):
    __slots__ = ("block", "block_hash", "results", "commit")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    block: _ledger_pb2.Block
    block_hash: bytes
    results: _ledger_pb2.BlockResults
    commit: _bft_pb2.Commit
    def __init__(self, block: _Optional[_Union[_ledger_pb2.Block, _Mapping]] = ..., block_hash: _Optional[bytes] = ..., results: _Optional[_Union[_ledger_pb2.BlockResults, _Mapping]] = ..., commit: _Optional[_Union[_bft_pb2.Commit, _Mapping]] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ValidatorInfo(_message.Message):
    __slots__ = ("address", "power", "deposit")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    POWER_FIELD_NUMBER: _ClassVar[int]
    DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    address: str
    power: int
    deposit: int
    def __init__(self, address: _Optional[str] = ..., power: _Optional[int] = ..., deposit: _Optional[int] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("chain_id", "node_address", "height", "app_hash", "last_block_hash", "last_block_time_unix_ms", "round", "peers_connected", "validators", "mempool_txs", "epochs", "ozone")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    APP_HASH_FIELD_NUMBER: _ClassVar[int]
    LAST_BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    LAST_BLOCK_TIME_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    PEERS_CONNECTED_FIELD_NUMBER: _ClassVar[int]
    VALIDATORS_FIELD_NUMBER: _ClassVar[int]
    MEMPOOL_TXS_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    OZONE_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    node_address: str
    height: int
    app_hash: bytes
    last_block_hash: bytes
    last_block_time_unix_ms: int
    round: int
    peers_connected: int
    validators: _containers.RepeatedCompositeFieldContainer[ValidatorInfo]
    mempool_txs: int
    epochs: EpochStatus
    ozone: OzonePool
    def __init__(self, chain_id: _Optional[str] = ..., node_address: _Optional[str] = ..., height: _Optional[int] = ..., app_hash: _Optional[bytes] = ..., last_block_hash: _Optional[bytes] = ..., last_block_time_unix_ms: _Optional[int] = ..., round: _Optional[int] = ..., peers_connected: _Optional[int] = ..., validators: _Optional[_Iterable[_Union[ValidatorInfo, _Mapping]]] = ..., mempool_txs: _Optional[int] = ..., epochs: _Optional[_Union[EpochStatus, _Mapping]] = ..., ozone: _Optional[_Union[OzonePool, _Mapping]] = ...) -> None: ...

class OzonePool(_message.Message):
    __slots__ = ("deposits", "prepaid", "limit")
    DEPOSITS_FIELD_NUMBER: _ClassVar[int]
    PREPAID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    deposits: int
    prepaid: int
    limit: int
    def __init__(self, deposits: _Optional[int] = ..., prepaid: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class EpochStatus(_message.Message):
    __slots__ = ("epoch_blocks", "current_epoch", "next_to_settle", "last_settled_height", "last_report_digest", "minted", "bonded_meta_nodes", "audit_slash", "suspend_debt_bps")
    EPOCH_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_EPOCH_FIELD_NUMBER: _ClassVar[int]
    NEXT_TO_SETTLE_FIELD_NUMBER: _ClassVar[int]
    LAST_SETTLED_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LAST_REPORT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    MINTED_FIELD_NUMBER: _ClassVar[int]
    BONDED_META_NODES_FIELD_NUMBER: _ClassVar[int]
    AUDIT_SLASH_FIELD_NUMBER: _ClassVar[int]
    SUSPEND_DEBT_BPS_FIELD_NUMBER: _ClassVar[int]
    epoch_blocks: int
    current_epoch: int
    next_to_settle: int
    last_settled_height: int
    last_report_digest: bytes
    minted: int
    bonded_meta_nodes: int
    audit_slash: int
    suspend_debt_bps: int
    def __init__(self, epoch_blocks: _Optional[int] = ..., current_epoch: _Optional[int] = ..., next_to_settle: _Optional[int] = ..., last_settled_height: _Optional[int] = ..., last_report_digest: _Optional[bytes] = ..., minted: _Optional[int] = ..., bonded_meta_nodes: _Optional[int] = ..., audit_slash: _Optional[int] = ..., suspend_debt_bps: _Optional[int] = ...) -> None: ...

class StreamBlocksRequest(_message.Message):
    __slots__ = ("from_height",)
    FROM_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    from_height: int
    def __init__(self, from_height: _Optional[int] = ...) -> None: ...

class PushAck(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RelayTxsRequest(_message.Message):
    __slots__ = ("txs",)
    TXS_FIELD_NUMBER: _ClassVar[int]
    txs: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, txs: _Optional[_Iterable[bytes]] = ...) -> None: ...

class RelayTxsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SyncBlocksRequest(_message.Message):
    __slots__ = ("from_height", "max_blocks")
    FROM_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    from_height: int
    max_blocks: int
    def __init__(self, from_height: _Optional[int] = ..., max_blocks: _Optional[int] = ...) -> None: ...
