"""Segment encryption: round trips, and every way a segment can be wrong ends in DataLoss."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stratos.common.errors import DataLoss, InvalidArgument
from stratos.sdk.crypto import (
    KEY_BYTES,
    TAG_BYTES,
    decrypt_segment,
    encrypt_segment,
    new_file_key,
    segment_aad,
    segment_nonce,
    stored_size,
)

FILE_ID = "0123456789abcdef0123456789abcdef"
keys = st.binary(min_size=KEY_BYTES, max_size=KEY_BYTES)
indexes = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=50, deadline=None)
@given(key=keys, index=indexes, plain=st.binary(max_size=4096))
def test_round_trip_and_stored_size(key: bytes, index: int, plain: bytes) -> None:
    stored = encrypt_segment(key, FILE_ID, index, plain)
    assert len(stored) == stored_size(len(plain)) == len(plain) + TAG_BYTES
    assert decrypt_segment(key, FILE_ID, index, stored) == plain


def test_nonce_and_aad_follow_the_contract() -> None:
    assert segment_nonce(5) == b"\x00" * 4 + (5).to_bytes(8, "big")
    assert segment_aad(FILE_ID, 7) == FILE_ID.encode() + b"\x00\x00\x00\x07"


def test_keys_are_random_and_256_bit() -> None:
    a, b = new_file_key(), new_file_key()
    assert len(a) == KEY_BYTES and a != b


def test_wrong_key_is_data_loss() -> None:
    stored = encrypt_segment(new_file_key(), FILE_ID, 0, b"secret")
    with pytest.raises(DataLoss, match="does not decrypt"):
        decrypt_segment(new_file_key(), FILE_ID, 0, stored)


def test_segment_moved_to_another_index_is_data_loss() -> None:
    key = new_file_key()
    stored = encrypt_segment(key, FILE_ID, 3, b"segment three")
    with pytest.raises(DataLoss, match="segment 4"):
        decrypt_segment(key, FILE_ID, 4, stored)


def test_segment_moved_to_another_file_is_data_loss() -> None:
    key = new_file_key()
    stored = encrypt_segment(key, FILE_ID, 0, b"x")
    with pytest.raises(DataLoss):
        decrypt_segment(key, "f" * 32, 0, stored)


@settings(max_examples=30, deadline=None)
@given(plain=st.binary(min_size=1, max_size=256), data=st.data())
def test_any_flipped_bit_is_data_loss(plain: bytes, data: st.DataObject) -> None:
    key = new_file_key()
    stored = bytearray(encrypt_segment(key, FILE_ID, 1, plain))
    pos = data.draw(st.integers(0, len(stored) - 1))
    stored[pos] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(DataLoss):
        decrypt_segment(key, FILE_ID, 1, bytes(stored))


def test_truncated_chunk_is_data_loss() -> None:
    key = new_file_key()
    stored = encrypt_segment(key, FILE_ID, 0, b"hello")
    with pytest.raises(DataLoss):
        decrypt_segment(key, FILE_ID, 0, stored[:-1])


def test_bad_key_length_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="32 bytes"):
        encrypt_segment(b"short", FILE_ID, 0, b"")
