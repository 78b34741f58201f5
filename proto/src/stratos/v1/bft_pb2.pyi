from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VoteType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOTE_TYPE_UNSPECIFIED: _ClassVar[VoteType]
    VOTE_TYPE_PREVOTE: _ClassVar[VoteType]
    VOTE_TYPE_PRECOMMIT: _ClassVar[VoteType]
VOTE_TYPE_UNSPECIFIED: VoteType
VOTE_TYPE_PREVOTE: VoteType
VOTE_TYPE_PRECOMMIT: VoteType

class Proposal(_message.Message):
    __slots__ = ("height", "round", "pol_round", "block", "block_hash", "proposer", "signature")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    POL_ROUND_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    PROPOSER_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    height: int
    round: int
    pol_round: int
    block: bytes
    block_hash: bytes
    proposer: str
    signature: bytes
    def __init__(self, height: _Optional[int] = ..., round: _Optional[int] = ..., pol_round: _Optional[int] = ..., block: _Optional[bytes] = ..., block_hash: _Optional[bytes] = ..., proposer: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class Vote(_message.Message):
    __slots__ = ("type", "height", "round", "block_hash", "validator", "signature")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    VALIDATOR_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    type: VoteType
    height: int
    round: int
    block_hash: bytes
    validator: str
    signature: bytes
    def __init__(self, type: _Optional[_Union[VoteType, str]] = ..., height: _Optional[int] = ..., round: _Optional[int] = ..., block_hash: _Optional[bytes] = ..., validator: _Optional[str] = ..., signature: _Optional[bytes] = ...) -> None: ...

class Commit(_message.Message):
    __slots__ = ("height", "round", "block_hash", "precommits")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    PRECOMMITS_FIELD_NUMBER: _ClassVar[int]
    height: int
    round: int
    block_hash: bytes
    precommits: _containers.RepeatedCompositeFieldContainer[Vote]
    def __init__(self, height: _Optional[int] = ..., round: _Optional[int] = ..., block_hash: _Optional[bytes] = ..., precommits: _Optional[_Iterable[_Union[Vote, _Mapping]]] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("a", "b")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    a: Vote
    b: Vote
    def __init__(self, a: _Optional[_Union[Vote, _Mapping]] = ..., b: _Optional[_Union[Vote, _Mapping]] = ...) -> None: ...

class CommittedBlock(_message.Message):
    __slots__ = ("block", "commit")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    block: bytes
    commit: Commit
    def __init__(self, block: _Optional[bytes] = ..., commit: _Optional[_Union[Commit, _Mapping]] = ...) -> None: ...

class ConsensusMessage(_message.Message):
    __slots__ = ("proposal", "vote", "committed", "evidence")
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    VOTE_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    proposal: Proposal
    vote: Vote
    committed: CommittedBlock
    evidence: Evidence
    def __init__(self, proposal: _Optional[_Union[Proposal, _Mapping]] = ..., vote: _Optional[_Union[Vote, _Mapping]] = ..., committed: _Optional[_Union[CommittedBlock, _Mapping]] = ..., evidence: _Optional[_Union[Evidence, _Mapping]] = ...) -> None: ...
