"""The error tree.

Every error a user can meet is a `StratosError` carrying one clear sentence. Errors are either
*retryable* (the same call may succeed later: a node is down, a deadline passed) or *permanent*
(the input is wrong, the thing does not exist). They are mapped to gRPC status codes only at the
edge (`grpc_code` / `from_grpc`) and printed as their sentence by the CLI — never a traceback.

grpc is imported only when a code is first asked for: importing it costs every `stratos` command
~0.1 s at start, and most commands never map an error to a status.
"""

from __future__ import annotations

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


class NotFound(PermanentError):
    grpc_code = _StatusCode("NOT_FOUND")


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


class Unavailable(RetryableError):
    grpc_code = _StatusCode("UNAVAILABLE")


class DeadlineExceeded(RetryableError):
    grpc_code = _StatusCode("DEADLINE_EXCEEDED")


class ConfigError(PermanentError):
    """A `STRATOS_*` variable holds a value the service cannot run with."""


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
        where = f" at {peer}" if peer else ""
        return Unavailable(f"cannot reach the service{where}; is it running?")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED and not details.strip():
        details = "the call timed out"
    return cls(details or f"the call failed ({code.name})")
