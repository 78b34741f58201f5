"""Names that come from strangers, made safe to show and to save.

A file's name is chosen by whoever stored it — and a shared capability hands that choice to
everyone who reads it; node IDs come from whoever runs a node. Printed raw, such a name can
carry terminal escape sequences (`\\x1b[31m`, a cursor move, a title change) or a newline that
forges a line of output; saved raw, it can climb out of the folder (`../`), hide itself
(`.bashrc`) or pose as an option (`-rf`). `shown` is how every such string is printed; `safe_name`
is what a fetched file is called when the user did not name it. Pure functions.
"""

from __future__ import annotations

import unicodedata

# Control characters, and format/separator characters that reorder or hide text (U+202E turns
# "exe.txt" around; U+200B is invisible): none of them is ever printed as itself.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
NAME_MAX_BYTES = 255  # what a Linux file system takes for one path component


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def shown(text: str) -> str:
    """`text` with every control or format character as a visible escape (`\\n`, `\\x1b`,
    `\\u202e`) and backslashes doubled, so what is printed is unambiguous and inert."""
    if text.isprintable() and "\\" not in text:
        return text  # the common case, unchanged
    out = []
    for ch in text:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif _unsafe(ch):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def safe_name(name: str, fallback: str) -> str:
    """A name to save a fetched file under in the folder the user is in: no path separators,
    no control or format characters (each becomes `_`), not hidden, not an option, not `.` or
    `..`, not empty (then `fallback`, the file ID), and short enough for the file system."""
    cleaned = "".join("_" if ch in "/\\" or _unsafe(ch) else ch for ch in name)
    cleaned = cleaned.strip().lstrip(".-").strip()
    if not cleaned:
        return fallback
    return _fit(cleaned)


def _fit(name: str) -> str:
    """`name` cut to NAME_MAX_BYTES of UTF-8, keeping a short extension when there is one."""
    if len(name.encode()) <= NAME_MAX_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    suffix = dot + ext if stem and len(ext.encode()) <= 16 else ""
    body = name[: len(name) - len(suffix)]
    room = NAME_MAX_BYTES - len(suffix.encode())
    return body.encode()[:room].decode(errors="ignore") + suffix
