"""The error tree.

Every error a user can meet is a `StratosError` carrying one clear sentence. Errors are either
*retryable* (the same call may succeed later: a node is down, a deadline passed) or *permanent*
(the input is wrong, the thing does not exist). They are mapped to gRPC status codes only at the
edge (`grpc_code` / `from_grpc`) and printed as their sentence by the CLI — never a traceback.
"""

from __future__ import annotations

import grpc


class StratosError(Exception):
    """Base of every Stratos error; `str(err)` is the sentence a user reads."""

    grpc_code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PermanentError(StratosError):
    """Retrying the same call cannot succeed."""


class RetryableError(StratosError):
    """The same call may succeed later."""

    retryable = True
    grpc_code = grpc.StatusCode.UNAVAILABLE


class InvalidArgument(PermanentError):
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(PermanentError):
    grpc_code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(PermanentError):
    grpc_code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(PermanentError):
    grpc_code = grpc.StatusCode.PERMISSION_DENIED


class FailedPrecondition(PermanentError):
    """The system is not in a state that allows the call (e.g. too few live nodes)."""

    grpc_code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(RetryableError):
    """Out of space or quota; may succeed elsewhere or later."""

    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DataLoss(PermanentError):
    """Stored bytes no longer match their hash."""

    grpc_code = grpc.StatusCode.DATA_LOSS


class Unavailable(RetryableError):
    grpc_code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(RetryableError):
    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED


class ConfigError(PermanentError):
    """A `STRATOS_*` variable holds a value the service cannot run with."""


_BY_CODE: dict[grpc.StatusCode, type[StratosError]] = {
    cls.grpc_code: cls
    for cls in (
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
}


def from_grpc(err: grpc.RpcError, *, peer: str = "") -> StratosError:
    """Turn a failed RPC back into the error tree, keeping the server's sentence."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = (err.details() if hasattr(err, "details") else None) or ""
    cls = _BY_CODE.get(code, StratosError)
    if code == grpc.StatusCode.UNAVAILABLE and (not details or "connect" in details.lower()):
        where = f" at {peer}" if peer else ""
        return Unavailable(f"cannot reach the service{where}; is it running?")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED and not details.strip():
        details = "the call timed out"
    return cls(details or f"the call failed ({code.name})")
