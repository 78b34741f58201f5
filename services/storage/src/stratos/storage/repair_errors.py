"""Why a repair job, or one source of it, failed: the two errors repair adds to the tree.

Both are `StratosError`s whose `retryable` is decided per instance rather than by their class,
because each sums up other errors: a source that is unreachable may answer later, one that sent
corrupt bytes will not; and a job fails for now when any of its sources may answer later, for
good when none can (or when the job itself is malformed). Neither crosses gRPC: a failed job is
reported to the planner in a RepairResult, carrying the job's sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

from stratos.common.errors import StratosError


class SourceError(StratosError):
    """Storage node `node_id` could not provide a chunk, for `reason` ("it sent corrupt
    bytes"); `retryable` says whether asking it again later may work."""

    def __init__(self, node_id: str, reason: str, *, retryable: bool) -> None:
        super().__init__(f"{node_id}: {reason.rstrip('.')}")
        self.node_id = node_id
        self.reason = reason
        self.retryable = retryable

    @classmethod
    def of(cls, node_id: str, err: BaseException) -> SourceError:
        """The failure `err` met while reading from `node_id`, whatever its type."""
        if isinstance(err, StratosError):
            return cls(node_id, err.message, retryable=err.retryable)
        # Transport trouble that did not come back as a gRPC status: worth another try.
        return cls(node_id, f"{type(err).__name__}: {err}", retryable=True)


class JobFailed(StratosError):
    """A repair job that did not reach its goal; `retryable` says whether a later attempt may,
    and `failures` lists the sources that were tried, when there were any."""

    def __init__(
        self, message: str, *, retryable: bool, failures: Sequence[SourceError] = ()
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.failures = tuple(failures)


def permanent(message: str) -> JobFailed:
    return JobFailed(message, retryable=False)


def no_source_left(what: str, failures: Sequence[SourceError]) -> JobFailed:
    """All holders failed: retryable when any of them might answer later."""
    if not failures:
        return permanent(f"no source was given for {what}")
    return JobFailed(
        f"no source could provide {what} ({'; '.join(f.message for f in failures)})",
        retryable=any(f.retryable for f in failures),
        failures=failures,
    )
