"""The wire bytes of the chunk-carrying messages, made and read without protobuf's copies.

A chunk moves as 1 MiB `bytes data` fields of `PutChunkRequest` and `GetChunkResponse`
(storage.proto). Through the protobuf runtime each piece is copied when it is set, again when the
message is serialized, again when it is parsed, and once more every time `msg.data` is read: on
a 256 MiB get that was most of the client's memory traffic (issue 12). These codecs are used as
the gRPC (de)serializers of those two calls only, on both sides:

- `data_message` makes the wire bytes of a message whose only field is one bytes field: one copy,
  made once and sent to every replica of a chunk.
- `parse_data` reads such a message back as a memoryview into the received buffer: no copy. It
  parses any valid encoding of the message (fields in any order, repeated, unknown ones skipped,
  as protobuf itself does), so a peer built with the protobuf runtime interoperates either way.

Everything else (headers, tickets, other calls) still goes through the generated classes.
"""

from __future__ import annotations

from dataclasses import dataclass

from stratos.common.errors import InvalidArgument

WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32 = 0, 1, 2, 5
GET_DATA_FIELD = 1  # GetChunkResponse.data
GET_TOTAL_SIZE_FIELD = 2  # GetChunkResponse.total_size
PUT_HEADER_FIELD = 1  # PutChunkRequest.header
PUT_DATA_FIELD = 2  # PutChunkRequest.data
_MAX_VARINT_BYTES = 10


def varint(value: int) -> bytes:
    """`value` (0 ≤ value < 2**64) as a protobuf base-128 varint."""
    if not 0 <= value < 1 << 64:
        raise ValueError(f"{value} does not fit a protobuf varint")
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(pos, min(pos + _MAX_VARINT_BYTES, len(buf))):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
    raise InvalidArgument("a chunk message is malformed: a varint runs past its end")


def data_message(field: int, data: bytes | bytearray | memoryview, **varints: int) -> bytes:
    """The wire bytes of a message with bytes field `field` = `data` and, from `varints`
    (field number as `f<N>` → value), varint fields written only when non-zero, as proto3 does."""
    head = varint(field << 3 | WIRE_LEN) + varint(len(data))
    tail = b"".join(
        varint(int(name[1:]) << 3 | WIRE_VARINT) + varint(value)
        for name, value in varints.items()
        if value
    )
    return b"".join((head, data, tail))


@dataclass(frozen=True)
class Fields:
    """What `parse_data` found: the last value of the bytes field asked for (empty when absent),
    the last value of each varint field, and the raw bytes of every other length-delimited
    field (a sub-message the caller parses with protobuf)."""

    data: memoryview
    varints: dict[int, int]
    messages: dict[int, memoryview]


def parse_data(raw: bytes | bytearray | memoryview, field: int) -> Fields:
    """Read a message's fields; the bytes of `field` as a view into `raw`, not a copy."""
    buf = memoryview(raw)
    if buf.ndim != 1 or buf.itemsize != 1:
        buf = buf.cast("B")
    data = buf[0:0]
    varints: dict[int, int] = {}
    messages: dict[int, memoryview] = {}
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise InvalidArgument("a chunk message is malformed: field number 0")
        if wire == WIRE_VARINT:
            varints[number], pos = _read_varint(buf, pos)
        elif wire == WIRE_LEN:
            length, pos = _read_varint(buf, pos)
            if pos + length > end:
                raise InvalidArgument("a chunk message is malformed: a field runs past its end")
            value = buf[pos : pos + length]
            pos += length
            if number == field:
                data = value
            else:
                messages[number] = value
        elif wire in (WIRE_I64, WIRE_I32):
            pos += 8 if wire == WIRE_I64 else 4
            if pos > end:
                raise InvalidArgument("a chunk message is malformed: a field runs past its end")
        else:
            raise InvalidArgument(f"a chunk message is malformed: wire type {wire}")
    return Fields(data=data, varints=varints, messages=messages)
