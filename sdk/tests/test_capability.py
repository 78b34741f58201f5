"""Capabilities: format/parse round trip, and each malformed string is refused with a sentence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratos.common.errors import InvalidArgument
from stratos.sdk.capability import format_capability, is_file_id, parse_capability

FILE_ID = "0123456789abcdef0123456789abcdef"
KEY = bytes(range(32))
GOOD = format_capability(FILE_ID, KEY)

file_ids = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
keys = st.binary(min_size=32, max_size=32)


@given(file_id=file_ids, key=keys)
def test_round_trip(file_id: str, key: bytes) -> None:
    text = format_capability(file_id, key)
    assert text.startswith("stratos://" + file_id + "#")
    assert "=" not in text
    assert parse_capability(text) == (file_id, key)


def test_format_is_the_documented_shape() -> None:
    assert (
        GOOD
        == "stratos://0123456789abcdef0123456789abcdef#AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
    )


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_capability(f"  {GOOD}\n") == (FILE_ID, KEY)


_KEY_TEXT = GOOD.split("#")[1]
MALFORMED = [
    "",
    "stratos://",
    FILE_ID,
    f"http://{FILE_ID}#{_KEY_TEXT}",
    f"stratos:/{FILE_ID}#{_KEY_TEXT}",
    f"stratos://{FILE_ID}",
    f"stratos://{FILE_ID}#",
    f"stratos://{FILE_ID.upper()}#{_KEY_TEXT}",
    f"stratos://{FILE_ID[:-1]}#{_KEY_TEXT}",
    f"stratos://{FILE_ID}0#{_KEY_TEXT}",
    f"stratos://{FILE_ID[:-1]}g#{_KEY_TEXT}",
    f"stratos://#{_KEY_TEXT}",
    f"stratos://{FILE_ID}#{_KEY_TEXT}=",
    f"stratos://{FILE_ID}#{_KEY_TEXT[:-1]}",
    f"stratos://{FILE_ID}#{_KEY_TEXT}AA",
    f"stratos://{FILE_ID}#{_KEY_TEXT[:-1]}+",
    f"stratos://{FILE_ID}#{_KEY_TEXT[:-1]}/",
    f"stratos://{FILE_ID}#{_KEY_TEXT[:-1]}9",  # non-canonical: unused low bits set
    f"stratos://{FILE_ID}#{_KEY_TEXT}#{_KEY_TEXT}",
    f"stratos://{FILE_ID}#key with spaces",
    f"stratos://{FILE_ID}/#{_KEY_TEXT}",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_is_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^not a valid capability: ") as info:
        parse_capability(text)
    assert _KEY_TEXT not in str(info.value)  # the secret is never echoed


@given(st.text(max_size=120))
def test_arbitrary_text_either_parses_or_is_invalid_argument(text: str) -> None:
    try:
        file_id, key = parse_capability(text)
    except InvalidArgument as err:
        assert str(err).startswith("not a valid capability: ")
    else:
        assert is_file_id(file_id) and len(key) == 32


def test_is_file_id() -> None:
    assert is_file_id(FILE_ID)
    assert not is_file_id(FILE_ID.upper())
    assert not is_file_id(FILE_ID[:-1])
    assert not is_file_id(GOOD)


def test_format_refuses_bad_inputs() -> None:
    with pytest.raises(InvalidArgument):
        format_capability("nope", KEY)
    with pytest.raises(InvalidArgument):
        format_capability(FILE_ID, b"short")
