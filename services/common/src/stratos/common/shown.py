"""How a sentence shows a value a stranger sent.

Refusals name what was wrong ("job X targets Y"), and X and Y often come straight from the bytes
being refused: a file ID, a job ID, a node name. Put in a sentence as they are, a newline or a
terminal escape in them forges log lines and rewrites a user's screen, and a 4 MiB "file ID"
makes a 4 MiB error that no gRPC status can carry. `shown` quotes the value (control characters
print as escapes) and cuts it to a length a sentence can hold. Found by the fuzz tests (fuzz/).
"""

from __future__ import annotations

MAX_SHOWN_CHARS = 80


def shown(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """`value` quoted as `repr` does, cut to `limit` characters (saying how long it was)."""
    if not isinstance(value, str | bytes):
        value = repr(value)
    text = repr(value[:limit])
    if len(value) > limit:
        unit = "bytes" if isinstance(value, bytes) else "characters"
        text += f"... ({len(value)} {unit})"
    return text


def enum_name(enum_type, number: int) -> str:
    """The name of a protobuf enum value, or the number when no name has it: proto3 enums are
    open, so a stranger's message may carry any int32 there (`Name` raises on those)."""
    return enum_type.Name(number) if number in enum_type.values() else str(number)
