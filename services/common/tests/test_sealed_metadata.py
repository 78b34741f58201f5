"""Sealing a file's name into its manifest: only the file key opens it, every alteration and
every piece of garbage is refused with one sentence, and no two seals share a nonce."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratos.common import sealed_metadata as sm
from stratos.common.errors import DataLoss, InvalidArgument, StratosError
from stratos.common.limits import MAX_NAME_CHARS
from stratos.v1 import types_pb2

FILE_ID = "0123456789abcdef0123456789abcdef"
KEY = bytes(range(32))


def sealed(name: str = "holiday.jpg", key: bytes = KEY, file_id: str = FILE_ID):
    return sm.seal(key, file_id, types_pb2.FileMetadata(name=name))


def one_sentence(err: StratosError) -> str:
    text = str(err)
    assert "\n" not in text and "Traceback" not in text and text.startswith("the name of file")
    return text


def test_the_file_key_opens_what_it_sealed() -> None:
    assert sm.open_sealed(KEY, FILE_ID, sealed("holiday.jpg")).name == "holiday.jpg"


def test_the_name_appears_nowhere_in_the_sealed_bytes() -> None:
    block = sealed("holiday.jpg").SerializeToString()
    assert b"holiday" not in block and b"jpg" not in block


def test_another_key_is_refused_with_one_sentence() -> None:
    with pytest.raises(DataLoss) as err:
        sm.open_sealed(secrets.token_bytes(32), FILE_ID, sealed())
    assert "the key is not this file's, or the sealed bytes were altered" in one_sentence(err.value)


def test_a_block_moved_into_another_file_s_manifest_is_refused() -> None:
    with pytest.raises(DataLoss):
        sm.open_sealed(KEY, "f" * 32, sealed())


@pytest.mark.parametrize("where", ["nonce", "ciphertext"])
def test_any_flipped_bit_is_refused(where: str) -> None:
    block = sealed()
    for i in range(len(getattr(block, where))):
        data = bytearray(getattr(block, where))
        data[i] ^= 0x01
        tampered = types_pb2.SealedMetadata()
        tampered.CopyFrom(block)
        setattr(tampered, where, bytes(data))
        with pytest.raises(DataLoss) as err:
            sm.open_sealed(KEY, FILE_ID, tampered)
        one_sentence(err.value)


def test_every_seal_takes_a_fresh_nonce() -> None:
    blocks = [sealed("same.txt") for _ in range(200)]
    assert len({b.nonce for b in blocks}) == 200
    assert len({b.ciphertext for b in blocks}) == 200


def test_the_metadata_key_is_not_the_file_key() -> None:
    """Segments are sealed under the file key with counter nonces; the name never is."""
    assert sm.metadata_key(KEY) != KEY and len(sm.metadata_key(KEY)) == 32


def test_only_the_64_byte_bucket_of_a_name_s_length_shows() -> None:
    sizes = {len(sealed("a" * n).ciphertext) for n in range(1, 60)}
    assert sizes == {64 + 16}
    assert len(sealed("a" * 70).ciphertext) == 128 + 16


def test_the_longest_name_of_the_widest_characters_fits_the_counted_maximum() -> None:
    block = sealed("\U0010ffff" * MAX_NAME_CHARS)
    assert len(block.ciphertext) == sm.MAX_CIPHERTEXT_BYTES
    assert sm.widest().ByteSize() == block.ByteSize()
    assert sm.shape_problem(block) is None


@pytest.mark.parametrize("name", ["", "x" * (MAX_NAME_CHARS + 1)])
def test_a_name_out_of_bounds_is_not_sealed(name: str) -> None:
    with pytest.raises(InvalidArgument, match="1 to 255 characters"):
        sealed(name)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"version": 2}, "version is 2"),
        ({"version": 0}, "version is 0"),
        ({"nonce": b"\x00" * 11}, "nonce is 11 bytes"),
        ({"ciphertext": b""}, "ciphertext is 0 bytes"),
        ({"ciphertext": bytes(64 + 15)}, "ciphertext is 79 bytes"),
        ({"ciphertext": bytes(sm.MAX_CIPHERTEXT_BYTES + 64)}, "at most"),
    ],
)
def test_a_block_of_the_wrong_shape_is_refused_before_any_decryption(change, why) -> None:
    block = sealed()
    for field, value in change.items():
        setattr(block, field, value)
    assert why in (sm.shape_problem(block) or "")
    with pytest.raises(DataLoss) as err:
        sm.open_sealed(KEY, FILE_ID, block)
    assert why in one_sentence(err.value)


def _seal_raw(plain: bytes) -> types_pb2.SealedMetadata:
    """What a writer holding the key could seal outside the rules (authenticated garbage)."""
    nonce = secrets.token_bytes(12)
    ct = sm.AESGCM(sm.metadata_key(KEY)).encrypt(nonce, plain, sm.DOMAIN + FILE_ID.encode())
    return types_pb2.SealedMetadata(version=1, nonce=nonce, ciphertext=ct)


@pytest.mark.parametrize(
    ("plain", "why"),
    [
        (bytes(64), "padding is malformed"),
        (b"\xff" * 63 + b"\x80", "does not hold a FileMetadata"),
        (b"\x80" + bytes(63), "name is not 1 to 255"),
    ],
)
def test_authenticated_garbage_is_refused_with_one_sentence(plain: bytes, why: str) -> None:
    with pytest.raises(DataLoss) as err:
        sm.open_sealed(KEY, FILE_ID, _seal_raw(plain))
    assert why in one_sentence(err.value)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2048), key=st.binary(min_size=32, max_size=32))
def test_garbage_bytes_as_a_sealed_block_are_one_sentence_never_a_traceback(data, key) -> None:
    """The parser a stranger's manifest reaches: whatever the bytes, a StratosError or a name."""
    try:
        block = types_pb2.SealedMetadata.FromString(data)
    except Exception:
        return  # not even protobuf: refused by the manifest's own parser, before this one
    try:
        sm.open_sealed(key, FILE_ID, block)
    except DataLoss as err:
        one_sentence(err)


@settings(max_examples=200, deadline=None)
@given(name=st.text(min_size=1, max_size=MAX_NAME_CHARS))
def test_any_name_a_user_may_give_comes_back_exactly(name: str) -> None:
    assert sm.open_sealed(KEY, FILE_ID, sealed(name)).name == name
