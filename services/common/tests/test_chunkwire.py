"""chunkwire reads and writes the chunk-carrying messages exactly as protobuf does."""

from __future__ import annotations

import os

import pytest

from stratos.common import chunkwire
from stratos.common.errors import InvalidArgument
from stratos.v1 import storage_pb2


@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 1 << 20])
def test_a_data_message_parses_as_the_protobuf_message_with_the_same_bytes(size):
    data = os.urandom(size)
    wire = chunkwire.data_message(chunkwire.PUT_DATA_FIELD, memoryview(data))
    assert storage_pb2.PutChunkRequest.FromString(wire) == storage_pb2.PutChunkRequest(data=data)
    wire = chunkwire.data_message(chunkwire.GET_DATA_FIELD, data, f2=size)
    assert storage_pb2.GetChunkResponse.FromString(wire) == storage_pb2.GetChunkResponse(
        data=data, total_size=size
    )


@pytest.mark.parametrize("total", [0, 5, 1 << 40])
def test_a_protobuf_get_response_parses_to_its_data_and_size_without_a_copy(total):
    raw = storage_pb2.GetChunkResponse(data=b"piece-bytes", total_size=total).SerializeToString()
    fields = chunkwire.parse_data(raw, chunkwire.GET_DATA_FIELD)
    assert bytes(fields.data) == b"piece-bytes"
    assert fields.varints.get(chunkwire.GET_TOTAL_SIZE_FIELD, 0) == total
    assert fields.data.obj is raw  # a view into the received buffer


def test_fields_in_any_order_repeated_or_unknown_read_as_protobuf_reads_them():
    # total_size first, data twice (the last wins), then unknown fields of every wire type
    raw = (
        b"\x10\x07"
        + chunkwire.data_message(1, b"old")
        + chunkwire.data_message(1, b"new")
        + b"\x18\x96\x01"  # field 3, varint
        + b"\x21"
        + bytes(8)  # field 4, fixed64
        + b"\x2d"
        + bytes(4)  # field 5, fixed32
        + chunkwire.data_message(6, b"other")
    )
    expected = storage_pb2.GetChunkResponse.FromString(raw)
    fields = chunkwire.parse_data(raw, chunkwire.GET_DATA_FIELD)
    assert bytes(fields.data) == expected.data == b"new"
    assert fields.varints[2] == expected.total_size == 7
    assert bytes(fields.messages[6]) == b"other"


def test_a_put_header_is_found_as_a_submessage():
    header = storage_pb2.PutChunkHeader(chunk_id="ab" * 32, size=9)
    raw = storage_pb2.PutChunkRequest(header=header).SerializeToString()
    fields = chunkwire.parse_data(raw, chunkwire.PUT_DATA_FIELD)
    assert len(fields.data) == 0
    assert storage_pb2.PutChunkHeader.FromString(fields.messages[1]) == header


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x05abc",  # a field longer than the message
        b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a varint of 11 bytes
        b"\x0b",  # wire type 3 (groups) is not in proto3
        b"\x00\x01",  # field number 0
        b"\x21\x00",  # a fixed64 cut short
    ],
)
def test_a_malformed_message_is_one_clear_error(raw):
    with pytest.raises(InvalidArgument, match="malformed"):
        chunkwire.parse_data(raw, chunkwire.GET_DATA_FIELD)


def test_a_varint_is_protobuf_s_encoding():
    assert chunkwire.varint(0) == b"\x00"
    assert chunkwire.varint(150) == b"\x96\x01"
    assert chunkwire.varint((1 << 64) - 1) == b"\xff" * 9 + b"\x01"
    with pytest.raises(ValueError):
        chunkwire.varint(-1)
