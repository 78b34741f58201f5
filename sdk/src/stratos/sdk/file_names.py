"""What a file is called, for whoever may know it (issue 11, part 6).

Names are sealed inside the manifest with the file key (`stratos.common.sealed_metadata`), so the
index lists IDs, sizes, dates and owner keys, never names. The caller opens the names of the
files whose keys it holds — the capabilities in its keyring, or the one it was given — and shows
an honest placeholder for the rest. A manifest stored before names were sealed carries its name
in plaintext (`legacy_name`) and no sealed block: that name is shown as it stands, since it was
never secret. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stratos.common.errors import DataLoss
from stratos.common.sealed_metadata import open_sealed, seal
from stratos.v1 import types_pb2

ENCRYPTED = "(encrypted)"
UNREADABLE = "(does not decrypt)"


@dataclass(frozen=True)
class ListedFile:
    """A file as this caller can show it: the index's summary, and its name when known."""

    summary: types_pb2.FileSummary
    name: str | None = None  # None: sealed, and this caller holds no key that opens it
    problem: str = ""  # why a key this caller holds did not open the name (one sentence)

    @property
    def file_id(self) -> str:
        return self.summary.file_id

    @property
    def shown_name(self) -> str:
        """The name, or the placeholder that says honestly why there is none."""
        if self.name is not None:
            return self.name
        return UNREADABLE if self.problem else ENCRYPTED

    @property
    def legacy(self) -> bool:
        """Stored before names were sealed: its name, if any, is in the manifest in plaintext."""
        return not self.summary.HasField("metadata")


def sealed_name(key: bytes, file_id: str, name: str) -> types_pb2.SealedMetadata:
    """The sealed block a new manifest carries for `name`."""
    return seal(key, file_id, types_pb2.FileMetadata(name=name))


def name_of(manifest: types_pb2.Manifest, key: bytes) -> str:
    """The file's name: opened with `key`, or the plaintext name of a manifest stored before
    names were sealed. DataLoss, one sentence, when the key does not open it."""
    if manifest.HasField("metadata"):
        return open_sealed(key, manifest.file_id, manifest.metadata).name
    return manifest.legacy_name


def listed(summary: types_pb2.FileSummary, keys: Mapping[str, bytes]) -> ListedFile:
    """`summary` with its name opened when `keys` holds the file's key. A legacy summary comes
    back without a name: its plaintext name is only in the manifest (`with_legacy_name`)."""
    key = keys.get(summary.file_id)
    if key is None or not summary.HasField("metadata"):
        return ListedFile(summary)
    try:
        return ListedFile(summary, open_sealed(key, summary.file_id, summary.metadata).name)
    except DataLoss as err:
        return ListedFile(summary, problem=err.message)


def with_legacy_name(entry: ListedFile, manifest: types_pb2.Manifest) -> ListedFile:
    """A legacy entry with the plaintext name its (verified) manifest carries."""
    return ListedFile(entry.summary, manifest.legacy_name)
