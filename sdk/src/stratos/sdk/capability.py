"""Read capabilities: the `stratos://<file id>#<key>` string a user shares.

Whoever holds it can fetch and decrypt the file; the key never reaches the index or the storage
nodes. Parsing is strict so that a mangled link fails with a sentence instead of fetching the
wrong thing or decrypting garbage. The sentence never repeats the key. Pure functions.
"""

from __future__ import annotations

import base64
import binascii
import re

from stratos.common.errors import InvalidArgument
from stratos.sdk.crypto import KEY_BYTES

SCHEME = "stratos://"
_FILE_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")


def is_file_id(text: str) -> bool:
    """True for a manifest ID: 32 lowercase hex characters."""
    return bool(_FILE_ID_RE.match(text))


def _b64url(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")


def format_capability(file_id: str, key: bytes) -> str:
    """`stratos://<32 hex file id>#<base64url(key), no padding>`."""
    if not is_file_id(file_id):
        raise InvalidArgument(f"{file_id!r} is not a file ID (32 lowercase hex characters)")
    if len(key) != KEY_BYTES:
        raise InvalidArgument(f"a file key must be {KEY_BYTES} bytes, not {len(key)}")
    return f"{SCHEME}{file_id}#{_b64url(key)}"


def _invalid(why: str) -> InvalidArgument:
    return InvalidArgument(f"not a valid capability: {why}")


def parse_capability(text: str) -> tuple[str, bytes]:
    """(file_id, key) from a capability; InvalidArgument naming what is wrong otherwise."""
    if not isinstance(text, str):
        raise _invalid("expected text")
    text = text.strip()
    if not text.startswith(SCHEME):
        raise _invalid(f"it must start with {SCHEME}")
    rest = text[len(SCHEME) :]
    file_id, sep, key_text = rest.partition("#")
    if not sep:
        raise _invalid("the '#<key>' part is missing")
    if not is_file_id(file_id):
        raise _invalid("the file ID must be 32 lowercase hex characters")
    if not key_text:
        raise _invalid("the key is empty")
    if not _B64URL_RE.match(key_text):
        raise _invalid("the key is not unpadded base64url")
    try:
        key = base64.urlsafe_b64decode(key_text + "=" * (-len(key_text) % 4))
    except (binascii.Error, ValueError):
        raise _invalid("the key is not unpadded base64url") from None
    if len(key) != KEY_BYTES:
        raise _invalid(f"the key must be {KEY_BYTES} bytes, not {len(key)}")
    if _b64url(key) != key_text:
        # Unused low bits set: decodes, but is not the string we would have produced.
        raise _invalid("the key is not canonical base64url")
    return file_id, key
