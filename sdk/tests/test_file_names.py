"""Names as the caller may know them: opened where it holds the file's key, an honest placeholder
where it does not, and the plaintext name of a manifest stored before names were sealed."""

from __future__ import annotations

import io
import json
import secrets

import pytest
from rich.console import Console

from stratos.common.errors import DataLoss
from stratos.common.identity import Identity
from stratos.common.manifests import file_summary
from stratos.sdk import render
from stratos.sdk.capability import format_capability
from stratos.sdk.file_names import (
    ENCRYPTED,
    UNREADABLE,
    listed,
    name_of,
    with_legacy_name,
)
from stratos.sdk.home import Home
from stratos.sdk.manifest import build_manifest, sign_manifest, verify_manifest
from stratos.v1 import types_pb2

FILE_ID = "00112233445566778899aabbccddeeff"
OTHER_ID = "ffeeddccbbaa99887766554433221100"
KEY = bytes(range(32))
OWNER = Identity.generate()


def manifest(name: str = "holiday.jpg", file_id: str = FILE_ID, key: bytes = KEY):
    return build_manifest(
        file_id=file_id, name=name, key=key, size=0, segment_size=64, replicas=1, segments=[]
    )


def legacy_manifest(name: str = "old-notes.txt") -> types_pb2.Manifest:
    """A manifest as written before names were sealed: plaintext name (field 2), no metadata."""
    m = types_pb2.Manifest(
        file_id=FILE_ID, legacy_name=name, segment_size=64, replicas=1, created_unix_ms=1
    )
    m.cipher = types_pb2.CIPHER_AES_256_GCM
    return m


def summary_of(m: types_pb2.Manifest) -> types_pb2.FileSummary:
    return file_summary(m, OWNER.public_bytes)


def plain(renderable) -> str:
    console = Console(file=io.StringIO(), width=120, record=True)
    console.print(renderable)
    return console.export_text()


def test_a_new_manifest_carries_no_plaintext_name() -> None:
    signed = sign_manifest(manifest("holiday.jpg"), OWNER)
    assert b"holiday" not in signed.SerializeToString()
    assert verify_manifest(signed, FILE_ID).legacy_name == ""


def test_the_summary_the_index_lists_carries_no_plaintext_name() -> None:
    assert b"holiday" not in summary_of(manifest()).SerializeToString()


def test_the_owner_s_key_opens_the_name_in_a_listing_and_a_get() -> None:
    m = manifest("holiday.jpg")
    assert listed(summary_of(m), {FILE_ID: KEY}).name == "holiday.jpg"
    assert name_of(m, KEY) == "holiday.jpg"


def test_without_the_key_a_listing_shows_encrypted_beside_the_id() -> None:
    entry = listed(summary_of(manifest()), {OTHER_ID: KEY})
    assert (entry.name, entry.shown_name, entry.problem) == (None, ENCRYPTED, "")
    row = next(line for line in plain(render.files_table([entry])).splitlines() if FILE_ID in line)
    assert ENCRYPTED in row and "holiday" not in row
    doc = render.file_summary_dict(entry)
    assert doc["name"] is None and doc["sealed"] is True and "name_problem" not in doc
    json.dumps(doc)


def test_a_key_that_does_not_open_the_name_says_so_instead_of_guessing() -> None:
    entry = listed(summary_of(manifest()), {FILE_ID: secrets.token_bytes(32)})
    assert entry.name is None and entry.shown_name == UNREADABLE
    assert entry.problem == (
        f"the name of file {FILE_ID} cannot be read: the key is not this file's, "
        "or the sealed bytes were altered"
    )
    assert render.file_summary_dict(entry)["name_problem"] == entry.problem


def test_a_get_with_the_wrong_key_stops_at_the_name_with_one_sentence() -> None:
    with pytest.raises(DataLoss, match=r"^the name of file .* cannot be read: the key is not"):
        name_of(manifest(), secrets.token_bytes(32))


def test_stat_shows_the_name_or_the_placeholder() -> None:
    m = manifest("holiday.jpg")
    mine = plain(render.stat_summary(listed(summary_of(m), {FILE_ID: KEY}), m))
    theirs = plain(render.stat_summary(listed(summary_of(m), {}), m))
    assert "holiday.jpg" in mine and ENCRYPTED in theirs and "holiday" not in theirs


def test_a_manifest_stored_before_names_were_sealed_still_shows_its_name() -> None:
    old = legacy_manifest("old-notes.txt")
    entry = listed(summary_of(old), {})
    assert entry.legacy and entry.name is None  # the index's summary no longer carries it
    assert with_legacy_name(entry, old).name == "old-notes.txt"  # read from the manifest
    assert name_of(old, KEY) == "old-notes.txt"  # a get needs no sealed block to name it
    assert render.file_summary_dict(with_legacy_name(entry, old))["sealed"] is False


def test_the_legacy_field_is_the_old_name_field_on_the_wire() -> None:
    """Field 2 kept its number when it was renamed, so manifests already stored parse as is."""
    field = types_pb2.Manifest.DESCRIPTOR.fields_by_name["legacy_name"]
    assert field.number == 2
    old_bytes = b"\x0a\x20" + FILE_ID.encode() + b"\x12\x05a.txt"
    assert types_pb2.Manifest.FromString(old_bytes).legacy_name == "a.txt"


def test_the_keyring_gives_ls_the_key_of_every_file_it_holds(tmp_path) -> None:
    home = Home(tmp_path / "home")
    home.remember(FILE_ID, format_capability(FILE_ID, KEY))
    home.remember(OTHER_ID, format_capability(FILE_ID, KEY))  # filed under the wrong ID
    home.remember("0" * 32, "not a capability")
    assert home.file_keys() == {FILE_ID: KEY}
