"""Every parser in the registry, fed (a) arbitrary bytes, (b) valid messages with hostile field
edits, (c) valid messages with wire-level damage and (d) its own structure-aware mutants: each
input is parsed into a value that keeps the parser's invariant, or refused with its documented
error and one sentence — never another exception, never a hang."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz.harness import Parser, budget, run_one
from fuzz.mutate import byte_mutated, mutated
from fuzz.parsers import PARSERS

pytestmark = pytest.mark.fuzz

WITH_SEEDS = [p for p in PARSERS if p.seeds()]
WITH_MUTANTS = [p for p in PARSERS if p.mutants is not None]
MAX_INPUT_BYTES = 4096


@pytest.mark.parametrize("parser", WITH_SEEDS, ids=str)
def test_the_valid_seeds_are_accepted(parser: Parser) -> None:
    """The starting points are real, valid messages (or mutating them would prove little)."""
    for seed in parser.seeds():
        assert run_one(parser, seed.SerializeToString()) is not None, seed


@pytest.mark.parametrize("parser", PARSERS, ids=str)
def test_arbitrary_bytes_are_parsed_or_refused(parser: Parser) -> None:
    @budget(parser.examples)
    @given(st.binary(max_size=MAX_INPUT_BYTES))
    def run(data: bytes) -> None:
        run_one(parser, data)

    run()


@pytest.mark.parametrize("parser", WITH_SEEDS, ids=str)
def test_valid_messages_with_hostile_fields_are_parsed_or_refused(parser: Parser) -> None:
    @budget(parser.examples)
    @given(st.sampled_from(parser.seeds()).flatmap(mutated))
    def run(msg) -> None:
        run_one(parser, msg.SerializeToString())

    run()


@pytest.mark.parametrize("parser", WITH_SEEDS, ids=str)
def test_damaged_encodings_are_parsed_or_refused(parser: Parser) -> None:
    encodings = [s.SerializeToString() for s in parser.seeds()]

    @budget(parser.examples)
    @given(st.sampled_from(encodings).flatmap(byte_mutated))
    def run(data: bytes) -> None:
        run_one(parser, data)

    run()


@pytest.mark.parametrize("parser", WITH_MUTANTS, ids=str)
def test_structure_aware_mutants_are_parsed_or_refused(parser: Parser) -> None:
    assert parser.mutants is not None

    @budget(parser.examples * 2)  # past the signatures, into the rules: where the bugs were
    @given(parser.mutants())
    def run(data: bytes) -> None:
        run_one(parser, data)

    run()
