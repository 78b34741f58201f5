"""What a put may ask for — copies or an erasure code, and a segment size — checked in this one
place. `MeshClient.put` checks them (`check_put`) before it contacts anything, and `stratos put`
calls the same checks as it reads its command line (`check_redundancy`, `check_segments`), so it
refuses a bad option before it even looks for a mesh.

The errors an edge words differently carry the fields it needs: the CLI says `--replicas` and
`--ec` where the SDK says `replicas` and `erasure`.

    InvalidArgument                  (stratos.common.errors)
     ├── ReplicasOutOfRange          replicas, lo, hi
     └── RedundancyConflict          replicas, erasure: a file has one kind of redundancy

The erasure code's own rules (`stratos.common.erasure.check_code`) and the segment bounds
(`stratos.common.segment_limits`) are shared with the index, which checks them again at commit;
they raise InvalidArgument with the same sentence everywhere. Pure: no I/O. Those two are
imported where they are used (zfec, the protobuf contracts): `stratos --help` loads this module
for DEFAULT_REPLICAS and must stay cheap."""

from __future__ import annotations

from dataclasses import dataclass

from stratos.common.errors import InvalidArgument
from stratos.common.limits import MAX_REPLICAS

DEFAULT_REPLICAS = 3


class ReplicasOutOfRange(InvalidArgument):
    """`replicas` is not within [lo, hi]."""

    def __init__(self, replicas: int, lo: int = 1, hi: int = MAX_REPLICAS) -> None:
        super().__init__(f"replicas must be between {lo} and {hi}, not {replicas}")
        self.replicas, self.lo, self.hi = replicas, lo, hi


class RedundancyConflict(InvalidArgument):
    """Both copies and an erasure code were asked for one file."""

    def __init__(self, replicas: int, erasure: tuple[int, int]) -> None:
        super().__init__("choose either replicas or an erasure code for a file, not both")
        self.replicas, self.erasure = replicas, erasure


@dataclass(frozen=True)
class PutOptions:
    """A put's checked options. A coded file stores each share once, so its `replicas` is 1."""

    replicas: int
    erasure: tuple[int, int] | None
    segment_size: int | None  # None: the mesh's suggestion, grown until the file fits


def check_put(
    size: int,
    *,
    replicas: int | None = None,
    erasure: tuple[int, int] | None = None,
    segment_size: int | None = None,
) -> PutOptions:
    """The options for putting a `size`-byte file, or the first rule they break."""
    copies = check_redundancy(replicas, erasure)
    if segment_size is not None:
        check_segments(size, segment_size, copies, erasure)
    return PutOptions(replicas=copies, erasure=erasure, segment_size=segment_size)


def check_redundancy(replicas: int | None = None, erasure: tuple[int, int] | None = None) -> int:
    """How many copies of each chunk a put stores (1 per share when coded), or why not.
    `replicas=None` is the default (3 copies); an erasure code is refused with any replicas
    given."""
    if replicas is not None and not 1 <= replicas <= MAX_REPLICAS:
        raise ReplicasOutOfRange(replicas)
    if erasure is None:
        return replicas or DEFAULT_REPLICAS
    from stratos.common.erasure import check_code

    check_code(*erasure)
    if replicas is not None:
        raise RedundancyConflict(replicas, erasure)
    return 1


def check_segments(
    size: int, segment_size: int, copies: int, erasure: tuple[int, int] | None
) -> None:
    """A segment size the caller chose must lie within the bounds and cut the file into no more
    segments than one manifest can name (without one the client picks a size that does)."""
    from stratos.common.segment_limits import check_segment_count, check_segment_size

    check_segment_count(size, check_segment_size(segment_size), copies, erasure)
