"""STOS amounts: exact conversion between decimal STOS text and integer nstos."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stratos.common.errors import InvalidArgument
from stratos.common.stos import MAX_NSTOS, NSTOS_PER_STOS, format_stos, parse_stos


@pytest.mark.parametrize(
    ("text", "nstos"),
    [
        ("12.5", 12_500_000_000),
        ("0", 0),
        ("1", NSTOS_PER_STOS),
        ("0.000000001", 1),
        (".5", 500_000_000),
        ("7.", 7 * NSTOS_PER_STOS),
        ("3.100000000000", 3_100_000_000),  # trailing zeros beyond 9 decimals lose nothing
        (" 2 ", 2 * NSTOS_PER_STOS),
    ],
)
def test_parse_known_amounts(text: str, nstos: int) -> None:
    assert parse_stos(text) == nstos


@pytest.mark.parametrize(
    ("nstos", "text"), [(12_500_000_000, "12.5"), (0, "0"), (1, "0.000000001"), (10**9, "1")]
)
def test_format_is_the_shortest_exact_decimal(nstos: int, text: str) -> None:
    assert format_stos(nstos) == text


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "-1",
        "+1",
        "1e3",
        "abc",
        "1.2.3",
        "1,000",
        "nan",
        "inf",
        "0x10",
        "1 000",
        ".",
        "\u0661",
    ],  # the last: an Arabic-Indic digit one,
)
def test_junk_is_refused_with_a_sentence(junk: str) -> None:
    with pytest.raises(InvalidArgument, match="is not an amount of STOS"):
        parse_stos(junk)


def test_more_than_nine_decimals_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="more than 9 decimals"):
        parse_stos("0.0000000001")


def test_amounts_beyond_uint64_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="more than the ledger can hold"):
        parse_stos("18446744074")


def test_negative_nstos_cannot_be_formatted() -> None:
    with pytest.raises(InvalidArgument, match="negative"):
        format_stos(-1)


@given(st.integers(min_value=0, max_value=MAX_NSTOS))
def test_format_then_parse_round_trips(nstos: int) -> None:
    assert parse_stos(format_stos(nstos)) == nstos


@given(
    st.integers(min_value=0, max_value=MAX_NSTOS // NSTOS_PER_STOS - 1),
    st.text("0123456789", max_size=9),
)
def test_parse_then_format_is_canonical(whole: int, frac: str) -> None:
    text = f"{whole}.{frac}" if frac else str(whole)
    assert parse_stos(format_stos(parse_stos(text))) == parse_stos(text)
    assert format_stos(parse_stos(text)) == (
        f"{whole}.{frac}".rstrip("0").rstrip(".") if frac else str(whole)
    )
