"""Structure-aware inputs: valid protobuf messages with some of their fields mutated.

Random bytes rarely get past a protobuf decoder into the rules behind it, and the rules are where
the bugs are. These strategies start from a VALID message and change a few fields the way a
hostile sender would: integers at their edges (0, -1, the type's min and max), enum values no
enum names, empty or oversized repeated fields, keys, signatures and hashes one byte too short or
too long, strings with control characters, odd unicode or 4 KiB of text. They walk the message's
descriptor, so any message type works without writing a strategy for it.
"""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

F = FieldDescriptor
_INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_ENUM: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
}
# Lengths that sit on either side of what keys (32), signatures (64), hashes (32), hex IDs (32,
# 40, 64) and nonces (16) must be.
_EDGE_LENGTHS = (0, 1, 15, 16, 31, 32, 33, 39, 40, 41, 63, 64, 65, 128)
MAX_FLOOD = 300  # copies appended to a repeated field: "oversized", but each example stays fast
LONG_TEXT = 4096


def integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Mostly the values that break arithmetic (0, -1, powers of two, the type's ends)."""
    candidates = (0, 1, -1, 2, lo, lo + 1, hi, hi - 1, 2**31, 2**32, 2**40, 2**53, 2**63 - 1)
    edges = st.sampled_from(sorted({v for v in candidates if lo <= v <= hi}))
    return st.one_of(edges, edges, st.integers(lo, hi))


def texts() -> st.SearchStrategy[str]:
    """Short unicode (control characters included), hex of the lengths IDs have, or long."""
    return st.one_of(
        st.text(max_size=24),
        st.sampled_from(_EDGE_LENGTHS).flatmap(
            lambda n: st.from_regex(f"[0-9a-f]{{{n}}}", fullmatch=True)
        ),
        st.sampled_from(["\x00", "a\nb", "../..", "\u202e", "\U0010ffff", "*", ">", "a.b"]),
        st.integers(1, LONG_TEXT).map(lambda n: "x" * n),
    )


def blobs() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=80),
        st.sampled_from(_EDGE_LENGTHS).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    )


def scalar(field: FieldDescriptor) -> st.SearchStrategy[object]:
    if field.type in _INT_RANGES:
        lo, hi = _INT_RANGES[field.type]
        if field.type == F.TYPE_ENUM:
            named = [v.number for v in field.enum_type.values]
            return st.one_of(st.sampled_from(named), integers(lo, hi))
        return integers(lo, hi)
    if field.type == F.TYPE_BOOL:
        return st.booleans()
    if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.floats(width=32 if field.type == F.TYPE_FLOAT else 64)
    if field.type == F.TYPE_STRING:
        return texts()
    if field.type == F.TYPE_BYTES:
        return blobs()
    raise TypeError(f"no strategy for protobuf field type {field.type} ({field.full_name})")


def _is_repeated(field: FieldDescriptor) -> bool:
    return field.is_repeated


def _mutate_field(draw: st.DrawFn, msg: Message, field: FieldDescriptor, depth: int) -> None:
    value = getattr(msg, field.name)
    if _is_repeated(field):
        op = draw(st.sampled_from(("clear", "flood", "add", "mutate_item")))
        if op == "clear":
            msg.ClearField(field.name)
        elif op == "flood":
            # many copies of an existing item (or a fresh one): duplicates and sheer size at once
            n = draw(st.integers(2, MAX_FLOOD))
            if field.type == F.TYPE_MESSAGE:
                item = value[0] if len(value) else field.message_type._concrete_class()
                for _ in range(n):
                    value.add().CopyFrom(item)
            else:
                value.extend([value[0] if len(value) else draw(scalar(field))] * n)
        elif op == "add":
            if field.type == F.TYPE_MESSAGE:
                _mutate_message(draw, value.add(), depth + 1)
            else:
                value.append(draw(scalar(field)))
        elif len(value):
            i = draw(st.integers(0, len(value) - 1))
            if field.type == F.TYPE_MESSAGE:
                _mutate_message(draw, value[i], depth + 1)
            else:
                value[i] = draw(scalar(field))
        return
    if field.type == F.TYPE_MESSAGE:
        op = draw(st.sampled_from(("mutate", "clear", "empty")))
        if op == "clear":
            msg.ClearField(field.name)
        elif op == "empty":
            value.Clear()
            value.SetInParent()
        else:
            _mutate_message(draw, value, depth + 1)
            value.SetInParent()
        return
    setattr(msg, field.name, draw(scalar(field)))


def _mutate_message(draw: st.DrawFn, msg: Message, depth: int) -> None:
    """Change one field of `msg` (or, for a sub-message, one field somewhere inside it)."""
    fields = list(msg.DESCRIPTOR.fields)
    if fields and depth <= 4:
        _mutate_field(draw, msg, draw(st.sampled_from(fields)), depth)


@st.composite
def mutated(draw: st.DrawFn, seed: Message) -> Message:
    """A copy of `seed` with one field (most often), two or three changed hostilely: few
    changes, so that one refusal does not hide what another change would have reached."""
    msg = type(seed)()
    msg.CopyFrom(seed)
    for _ in range(draw(st.sampled_from((1, 1, 1, 2, 3)))):
        _mutate_message(draw, msg, 0)
    return msg


@st.composite
def byte_mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` truncated, with bytes flipped, inserted or a slice repeated: the wire-level
    damage (bad varints, lengths past the end, fields given twice) a field-level edit misses."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("truncate", "flip", "insert", "repeat")))
        at = draw(st.integers(0, len(out)))
        if op == "truncate":
            del out[at:]
        elif op == "flip" and at < len(out):
            out[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "repeat":
            end = draw(st.integers(at, len(out)))
            out[end:end] = out[at:end] * draw(st.integers(1, 8))
    return bytes(out)
