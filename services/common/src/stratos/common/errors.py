"""The error tree.

Every error a user can meet is a `StratosError` carrying one clear sentence. Errors are either
*retryable* (the same call may succeed later: a node is down, a deadline passed) or *permanent*
(the input is wrong, the thing does not exist). They are mapped to gRPC status codes only at the
edge (`grpc_code` / `from_grpc`, `stratos.common.grpcutil.rpc_edge`) and printed as their
sentence by the CLI — never a traceback. Where a caller needs more than the sentence (which node,
which chunk, what limit), the error carries it as keyword attributes and builds its sentence from
them; those attributes exist in the raising process only: across gRPC only the code and the
sentence travel.

The hierarchy (fields in parentheses; `[service]` marks classes defined in a service, next to
the code that raises them):

    StratosError                        retryable per instance; gRPC UNKNOWN
    ├── PermanentError
    │   ├── InvalidArgument             INVALID_ARGUMENT
    │   │   ├── TooLarge (what, value, limit, unit, holder)
    │   │   ├── SpecError               [operator] a StratosCluster spec that cannot be built
    │   │   ├── InvalidMessage          [consensus] a consensus message to drop
    │   │   ├── InvalidBlock            [consensus] a block that cannot follow the state
    │   │   ├── TxRefused (code)        [consensus] check_tx refused a tx
    │   │   ├── ReplicasOutOfRange (replicas, lo, hi)
    │   │   │                           [sdk] a put's copy count outside its bounds
    │   │   └── RedundancyConflict (replicas, erasure)
    │   │                               [sdk] both copies and an erasure code for one file
    │   ├── NotFound                    NOT_FOUND
    │   │   └── ChunkNotFound (chunk_id, node_id)
    │   ├── AlreadyExists               ALREADY_EXISTS
    │   │   └── RetriedAlreadyExists    [sdk] our own earlier attempt may have succeeded
    │   ├── PermissionDenied            PERMISSION_DENIED
    │   │   ├── AdmissionRefused        an admission list that cannot be trusted
    │   │   ├── KeyRefused              a compute input key sealed for another executor or job
    │   │   ├── ReceiptRefused          a Proof-of-Traffic receipt no node is paid for
    │   │   ├── Refused (reason)        a signed NATS message its consumer drops
    │   │   └── TicketRefused           a storage ticket, or a request made with one, refused
    │   ├── FailedPrecondition          FAILED_PRECONDITION
    │   ├── DataLoss                    DATA_LOSS
    │   │   └── ChunkCorrupt (chunk_id, node_id)
    │   └── ConfigError (variables)     a `STRATOS_*` variable the process cannot run with
    │       └── UnknownVariable (variables, suggestions)
    ├── RetryableError                  UNAVAILABLE
    │   ├── ResourceExhausted           RESOURCE_EXHAUSTED
    │   ├── Unavailable                 UNAVAILABLE
    │   │   ├── Unreachable (address)
    │   │   └── NoValidatorReached      [sdk] no validator could be connected to
    │   └── DeadlineExceeded            DEADLINE_EXCEEDED
    ├── TxPending (status, detail)      [sdk] submitted, not committed: never retry the call
    ├── JobFailed (retryable)           [storage] a repair job that did not reach its goal
    └── SourceError (node_id, reason, retryable)
                                        [storage] one holder could not provide a chunk

`JobFailed` and `SourceError` sit under the root, not under a kind: each sums up other errors
(a job fails for now when any source may answer later), so whether it is retryable is decided
per instance. A test keeps this drawing and the classes in step.

grpc is imported only when a code is first asked for: importing it costs every `stratos` command
~0.1 s at start, and most commands never map an error to a status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc


class _StatusCode:
    """A class attribute that reads as `grpc.StatusCode.<name>`, resolved on first use."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, _obj: object, _owner: type) -> grpc.StatusCode:
        import grpc

        return grpc.StatusCode[self.name]


class StratosError(Exception):
    """Base of every Stratos error; `str(err)` is the sentence a user reads."""

    grpc_code = _StatusCode("UNKNOWN")
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PermanentError(StratosError):
    """Retrying the same call cannot succeed."""


class RetryableError(StratosError):
    """The same call may succeed later."""

    retryable = True
    grpc_code = _StatusCode("UNAVAILABLE")


class InvalidArgument(PermanentError):
    grpc_code = _StatusCode("INVALID_ARGUMENT")


class TooLarge(InvalidArgument):
    """`what` is `value` (in `unit`), more than the `limit` that `holder` accepts."""

    def __init__(self, what: str, value: int, limit: int, *, holder: str, unit: str = "") -> None:
        self.what, self.value, self.limit, self.holder, self.unit = what, value, limit, holder, unit
        super().__init__(f"{what} is {value}{unit}; {holder} accepts at most {limit}{unit}")


class NotFound(PermanentError):
    grpc_code = _StatusCode("NOT_FOUND")


class ChunkNotFound(NotFound):
    """Storage node `node_id` holds no chunk `chunk_id`."""

    def __init__(self, chunk_id: str, node_id: str) -> None:
        self.chunk_id, self.node_id = chunk_id, node_id
        super().__init__(f"chunk {chunk_id} is not stored on {node_id}")


class AlreadyExists(PermanentError):
    grpc_code = _StatusCode("ALREADY_EXISTS")


class PermissionDenied(PermanentError):
    grpc_code = _StatusCode("PERMISSION_DENIED")


class FailedPrecondition(PermanentError):
    """The system is not in a state that allows the call (e.g. too few live nodes)."""

    grpc_code = _StatusCode("FAILED_PRECONDITION")


class ResourceExhausted(RetryableError):
    """Out of space or quota; may succeed elsewhere or later."""

    grpc_code = _StatusCode("RESOURCE_EXHAUSTED")


class DataLoss(PermanentError):
    """Stored bytes no longer match their hash."""

    grpc_code = _StatusCode("DATA_LOSS")


class ChunkCorrupt(DataLoss):
    """Storage node `node_id`'s copy of chunk `chunk_id` no longer hashes to its ID; the node
    has set the copy aside, so a repair can replace it."""

    def __init__(self, chunk_id: str, node_id: str) -> None:
        self.chunk_id, self.node_id = chunk_id, node_id
        super().__init__(
            f"chunk {chunk_id} on {node_id} is corrupt (its bytes no longer match its ID); "
            "the copy was quarantined"
        )


class Unavailable(RetryableError):
    grpc_code = _StatusCode("UNAVAILABLE")


class Unreachable(Unavailable):
    """No connection could be made to the service at `address` ("" when unknown)."""

    def __init__(self, address: str = "") -> None:
        self.address = address
        where = f" at {address}" if address else ""
        super().__init__(f"cannot reach the service{where}; is it running?")


class DeadlineExceeded(RetryableError):
    grpc_code = _StatusCode("DEADLINE_EXCEEDED")


class ConfigError(PermanentError):
    """A `STRATOS_*` variable holds a value the service cannot run with; `variables` names the
    variables at fault (empty when the sentence is about something else, such as a file)."""

    def __init__(self, message: str, *, variables: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.variables = tuple(variables)


class UnknownVariable(ConfigError):
    """`STRATOS_*` variables that no Stratos setting reads — most often a typo, which would
    otherwise leave the default silently in force. `suggestions` maps a name to the closest
    real one, where there is one."""

    def __init__(self, variables: Sequence[str], suggestions: Mapping[str, str]) -> None:
        self.suggestions = dict(suggestions)
        names = [
            f"{v} (did you mean {suggestions[v]}?)" if v in suggestions else v for v in variables
        ]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        them = "it" if len(names) == 1 else "them"
        verb = "is" if len(names) == 1 else "are"
        super().__init__(
            f"{listed} {verb} set, but no Stratos setting reads {them}; correct or unset {them}",
            variables=variables,
        )


_MAPPED = (
    InvalidArgument,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    FailedPrecondition,
    ResourceExhausted,
    DataLoss,
    Unavailable,
    DeadlineExceeded,
)


def from_grpc(err: grpc.RpcError, *, peer: str = "") -> StratosError:
    """Turn a failed RPC back into the error tree, keeping the server's sentence."""
    import grpc

    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = (err.details() if hasattr(err, "details") else None) or ""
    cls = next((c for c in _MAPPED if c.grpc_code == code), StratosError)
    if code == grpc.StatusCode.UNAVAILABLE and (not details or "connect" in details.lower()):
        return Unreachable(peer)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED and not details.strip():
        details = "the call timed out"
    return cls(details or f"the call failed ({code.name})")
