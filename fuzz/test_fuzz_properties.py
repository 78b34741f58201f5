"""Parsers whose input is not one message but numbers and pieces: the segment and manifest
bounds (fed the integers a stranger's manifest or a CLI flag carries) and the erasure decoder
(fed shares that storage nodes, none of them trusted, sent back). Same promise as the registry's
parsers: a value or the documented refusal in one sentence, never a crash or a hang."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz.harness import bounded, budget, check_sentence
from fuzz.mutate import integers, texts
from stratos.common import erasure, segment_limits
from stratos.common.errors import DataLoss, InvalidArgument
from stratos.common.limits import MAX_MANIFEST_BYTES, MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES

pytestmark = pytest.mark.fuzz

U64 = integers(0, 2**64 - 1)
I64 = integers(-(2**63), 2**63 - 1)
codes = st.one_of(st.none(), st.tuples(integers(0, 40), integers(0, 40)))


def _refused(err: BaseException) -> None:
    check_sentence(err)


def test_segment_bounds_answer_any_integers() -> None:
    @budget(200)
    @given(size=U64, segment_size=I64, replicas=integers(1, 64), code=codes)
    def run(size, segment_size, replicas, code) -> None:
        if code is not None and (min(code) < 1 or sum(code) > erasure.MAX_SHARES):
            code = None  # the callers check the code first (manifest_rules._check_code)
        with bounded():
            try:
                segment_limits.check_segment_size(segment_size)
                segment_limits.check_segment_count(size, segment_size, replicas, code)
            except InvalidArgument as err:
                _refused(err)
            else:
                # accepted: the segments fit one manifest, each within the chunk limits
                assert MIN_SEGMENT_BYTES <= segment_size <= MAX_SEGMENT_BYTES
                n = segment_limits.segment_count(size, segment_size)
                assert n * segment_limits.segment_entry_bytes(replicas, code) < MAX_MANIFEST_BYTES
            try:
                fits = segment_limits.fitting_segment_size(size, segment_size, replicas, code)
            except InvalidArgument as err:
                _refused(err)
            else:
                segment_limits.check_segment_count(size, fits, replicas, code)
            segment_limits.check_manifest_bytes(0)

    run()


def test_erasure_code_text_is_parsed_or_refused() -> None:
    """`--erasure` as typed: "4+2", or anything else a user (or a script) passes."""
    digits = st.integers(1, 6000).map(lambda n: "9" * n)
    text = st.one_of(
        texts(), st.builds(lambda a, b: f"{a}+{b}", st.one_of(digits, texts()), digits)
    )

    @budget(200)
    @given(text)
    def run(value: str) -> None:
        with bounded():
            try:
                k, m = erasure.parse_ec(value)
            except InvalidArgument as err:
                _refused(err)
            else:
                erasure.check_code(k, m)

    run()


def test_shares_from_untrusted_holders_decode_or_are_refused() -> None:
    """Whatever shares come back (wrong sizes, wrong indices, empty, too few), decoding gives
    the asked-for number of bytes or DataLoss/InvalidArgument; the reader's hash check then
    decides whether the bytes are the file's."""
    share_maps = st.dictionaries(integers(-2, 40), st.binary(max_size=64), max_size=12)

    @budget(300)
    @given(share_maps, integers(0, 40), integers(0, 40), integers(0, 4096), st.data())
    def run(shares, k, m, size, data) -> None:
        with bounded():
            try:
                out = erasure.decode(shares, k, m, size)
            except (DataLoss, InvalidArgument) as err:
                _refused(err)
            else:
                assert len(out) == size
            wanted = data.draw(st.lists(integers(-2, 40), max_size=4))
            try:
                rebuilt = erasure.rebuild(shares, k, m, wanted)
            except (DataLoss, InvalidArgument) as err:
                _refused(err)
            else:
                assert set(rebuilt) == set(wanted)

    run()


def test_a_tampered_share_still_decodes_to_the_right_length() -> None:
    """Valid shares with one of them altered by its holder: no crash, the size asked for."""

    @budget(200)
    @given(
        st.binary(max_size=2048),
        st.integers(1, 6),
        st.integers(1, 4),
        st.data(),
    )
    def run(payload, k, m, data) -> None:
        shares = dict(enumerate(erasure.encode(payload, k, m)))
        victim = data.draw(st.sampled_from(sorted(shares)))
        shares[victim] = data.draw(st.binary(max_size=len(shares[victim]) + 2))
        with bounded():
            try:
                out = erasure.decode(shares, k, m, len(payload))
            except DataLoss as err:
                _refused(err)
            else:
                assert len(out) == len(payload)

    run()
