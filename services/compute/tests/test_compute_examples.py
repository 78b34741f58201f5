"""The example jobs of examples/compute (Go, GOOS=wasip1), built by `make examples`, run in the
real sandbox over real inputs: each prints what a user would check by hand (hashlib's digest,
wc's counts, grep's hits, sort -m's order), the same bytes on every run, and a 64 MiB input
streams through wordcount under a 64 MiB memory cap.

Fuel: the Go runtime reads `random_get` (its hash seed) and the clock as it starts; the
sandbox gives every run of a job the same ones (a stream keyed by the job, a clock from its
creation), so two runs use the same fuel to the unit (FUEL_JITTER = 0); with real ones they
differed by some thousands of units. The examples' own work is deterministic too: wordcount's
table is a hash of its own, not Go's seeded map."""

from __future__ import annotations

import hashlib
import string
from collections import Counter
from pathlib import Path

import pytest
import wasmtime

from stratos.compute.sandbox import Limits, MiB, Outcome, check_module, run

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "compute"
NAMES = ("wordcount", "grep", "sha256", "merge")
FUEL = 10_000_000_000
FUEL_JITTER = 0  # the sandbox gives every run of a job the same clock and random stream


@pytest.fixture(scope="module")
def modules() -> dict[str, wasmtime.Module]:
    """The built examples, compiled once; missing or older than their sources fails loudly."""
    shared = [*EXAMPLES.glob("internal/*/*.go"), EXAMPLES / "go.mod"]  # as the Makefile's rule
    built = {name: EXAMPLES / "build" / f"{name}.wasm" for name in NAMES}
    missing = [str(p.relative_to(EXAMPLES.parents[1])) for p in built.values() if not p.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not built: run `make examples`", pytrace=False)
    stale = [
        name
        for name, p in built.items()
        if any(
            p.stat().st_mtime < s.stat().st_mtime for s in [*EXAMPLES.glob(f"{name}/*.go"), *shared]
        )
    ]
    if stale:
        pytest.fail(
            f"{', '.join(stale)} older than its sources: run `make examples`", pytrace=False
        )
    return {name: check_module(p.read_bytes()) for name, p in built.items()}


@pytest.fixture
def job(modules, tmp_path):
    """job(name, *inputs, args=…, limits=…) → (Outcome, stdout); inputs are bytes or paths."""
    runs = iter(range(1_000))

    def go(name: str, *inputs: bytes | Path, args=(), limits=Limits(fuel=FUEL)):
        i = next(runs)
        paths = []
        for k, data in enumerate(inputs):
            if isinstance(data, Path):
                paths.append(data)
            else:
                paths.append(tmp_path / f"input-{i}-{k}")
                paths[-1].write_bytes(data)
        out = bytearray()
        workdir = tmp_path / f"run-{i}"
        workdir.mkdir()
        outcome = run(modules[name], paths, out.extend, limits, args=args, workdir=workdir)
        return outcome, bytes(out)

    return go


def ok(result: tuple[Outcome, bytes]) -> bytes:
    outcome, out = result
    assert outcome.ok, f"{outcome.error}: {outcome.stderr.decode(errors='replace')}"
    return out


def failed(result: tuple[Outcome, bytes]) -> str:
    outcome, _ = result
    assert not outcome.ok and outcome.exit_code == 1, outcome
    return outcome.stderr.decode()


def test_the_examples_are_wasi_commands_the_sandbox_accepts(modules) -> None:
    for module in modules.values():
        assert {i.module for i in module.imports} == {"wasi_snapshot_preview1"}


# sha256


def test_sha256_prints_hashlibs_digest_of_each_input_as_sha256sum_does(job) -> None:
    inputs = [bytes(range(256)) * 12_289, b"", b"hello\n"]  # 3 MiB and a bit: several chunks
    out = ok(job("sha256", *inputs))
    assert out.decode() == "".join(
        f"{hashlib.sha256(data).hexdigest()}  /in/{i}\n" for i, data in enumerate(inputs)
    )


def test_sha256_takes_no_arguments(job) -> None:
    assert "sha256 takes no arguments" in failed(job("sha256", b"x", args=["-v"]))


# wordcount

TEXT = b"""The quick brown fox jumps over the lazy dog.
"The dog," said the fox, "is lazy -- don't wake it."
\tTHE END\r\n"""


def test_wordcount_prints_wc_counts_and_the_most_frequent_words(job) -> None:
    out = ok(job("wordcount", TEXT, b"fox\nno newline at the end"))
    assert out.decode() == (
        "       3       22      108 /in/0\n"
        "       1        6       25 /in/1\n"
        "       4       28      133 total\n"
        "\n"
        "       6 the\n"
        "       3 fox\n"
        "       2 dog\n"
        "       2 end\n"
        "       2 lazy\n"
        "       1 at\n"
        "       1 brown\n"
        "       1 don't\n"
        "       1 is\n"
        "       1 it\n"
    )  # as wc: a last line without "\n" is no line; "--" is a word for wc, not for the table


def test_wordcount_top_sets_the_tables_length_and_0_leaves_it_out(job) -> None:
    assert (
        ok(job("wordcount", TEXT, args=["-top", "2"]))
        .decode()
        .endswith("\n\n       5 the\n       2 dog\n")
    )
    assert ok(job("wordcount", TEXT, args=["-top", "0"])) == (
        b"       3       22      108 /in/0\n       3       22      108 total\n"
    )
    assert "usage: wordcount [-top N]" in failed(job("wordcount", TEXT, args=["-top", "x"]))


def reference_wordcount(data: bytes, top: int) -> tuple[tuple[int, int, int], list[tuple]]:
    """wordcount's rules in Python: bytes.split() splits on the same ASCII white space."""
    punct = string.punctuation.encode()
    words = Counter(
        w for w in (raw.strip(punct).lower() for raw in data.split() if len(raw) <= 64) if w
    )
    table = sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return (data.count(b"\n"), len(data.split()), len(data)), table


def parse_wordcount(out: bytes) -> tuple[tuple[int, int, int], list[tuple]]:
    counts, table = out.split(b"\n\n")
    total = counts.splitlines()[-1].split()
    rows = [line.split() for line in table.splitlines()]
    return (int(total[0]), int(total[1]), int(total[2])), [(w, int(n)) for n, w in rows]


def test_wordcount_agrees_with_its_rules_across_chunk_boundaries(job) -> None:
    # words of every length up to and past MaxWord (64), punctuation and case, separated by
    # every kind of white space, so that words straddle the 64 KiB chunks in every way
    seps = [b" ", b"\n", b"\t", b"  ", b"\r\n", b"\x0b", b"\x0c"]
    parts = []
    for i in range(60_000):
        word = (b"Ab'c,-" * 14)[: 1 + i * 7 % 70]
        parts += [word if i % 3 else word.upper(), seps[i % len(seps)]]
    data = b"".join(parts)
    assert len(data) > 4 * (64 << 10)
    out = ok(job("wordcount", data, args=["-top", "50"]))
    assert parse_wordcount(out) == reference_wordcount(data, 50)


def test_wordcount_refuses_more_distinct_words_than_its_table_holds(job) -> None:
    many = b" ".join(b"w%d" % i for i in range(100_001))
    assert "more than 100000 different words" in failed(job("wordcount", many))
    assert ok(job("wordcount", many, args=["-top", "0"])).endswith(
        b"       0   100001   688897 total\n"
    )


# grep

LOG = b"""boot ok
ERROR disk 3 failed
warning: slow disk
error: retry (1 of 3)
done"""


def test_grep_prints_matching_lines_with_their_input_and_line_number(job) -> None:
    out = ok(job("grep", LOG, b"no match here\nERROR again\n", args=["ERROR|warn"]))
    assert out == (
        b"/in/0:2:ERROR disk 3 failed\n/in/0:3:warning: slow disk\n/in/1:2:ERROR again\n"
    )


def test_grep_ignores_case_with_i_and_takes_the_pattern_literally_with_F(job) -> None:
    assert ok(job("grep", LOG, args=["-i", "^error"])) == (
        b"/in/0:2:ERROR disk 3 failed\n/in/0:4:error: retry (1 of 3)\n"
    )
    assert ok(job("grep", LOG, args=["-F", "(1 of 3)"])) == b"/in/0:4:error: retry (1 of 3)\n"
    assert ok(job("grep", LOG, args=["d.ne"])) == b"/in/0:5:done\n"
    assert ok(job("grep", LOG, args=["-F", "d.ne"])) == b""


def test_grep_without_a_match_succeeds_with_no_output_and_logs_the_count(job) -> None:
    outcome, out = job("grep", LOG, args=["panic"])
    assert outcome.ok and out == b"" and outcome.stderr == b"0 matching lines\n"


def test_grep_keeps_a_lines_bytes_as_they_are(job) -> None:
    data = b"a\r\n\xff\xfematch\x00\n" + b"x" * 100_000 + b"match\n"
    assert ok(job("grep", data, args=["match"])) == (
        b"/in/0:2:\xff\xfematch\x00\n/in/0:3:" + b"x" * 100_000 + b"match\n"
    )


def test_grep_fails_with_a_sentence_on_a_bad_pattern_or_a_line_over_1_MiB(job) -> None:
    assert "not a regular expression" in failed(job("grep", LOG, args=["("]))
    assert "usage: grep" in failed(job("grep", LOG))
    long = b"short\n" + b"y" * (MiB + 1) + b"\n"
    assert failed(job("grep", long, args=["y"])) == "line 2 of /in/0 is longer than 1048576 bytes\n"


# merge


def test_merge_merges_sorted_inputs_into_one_sorted_output(job) -> None:
    a = [b"apple", b"cherry", b"kiwi", b"kiwi", b"plum"]
    b = [b"Zebra", b"banana", b"cherry", b"fig"]  # "Z" < "a": bytes order, as LC_ALL=C
    c = [b"", b"date", b"zucchini"]
    inputs = [b"\n".join(a) + b"\n", b"\n".join(b), b"\n".join(c) + b"\n", b""]
    out = ok(job("merge", *inputs))
    assert out == b"".join(line + b"\n" for line in sorted(a + b + c))


def test_merge_takes_equal_lines_from_the_lower_numbered_input_first(job) -> None:
    outcome, out = job("merge", b"k\n", b"k\n", b"a\nk\n")
    assert outcome.ok and out == b"a\nk\nk\nk\n"
    assert outcome.stderr == b"/in/0: 1 lines\n/in/1: 1 lines\n/in/2: 2 lines\n"


def test_merge_streams_many_lines_from_several_inputs(job) -> None:
    lines = sorted(b"%08x" % (i * 2_654_435_761 % 2**32) for i in range(150_000))
    inputs = [b"".join(x + b"\n" for x in lines[k::3]) for k in range(3)]
    out = ok(job("merge", *inputs))
    assert out == b"".join(x + b"\n" for x in lines)


def test_merge_fails_naming_an_input_that_is_not_sorted(job) -> None:
    stderr = failed(job("merge", b"a\nb\n", b"a\nc\nb\n"))
    assert stderr == "/in/1 is not sorted: line 3 sorts before line 2\n"


# every example: determinism, and streaming within a memory cap


@pytest.mark.parametrize(
    ("name", "args"), [("wordcount", ()), ("grep", ("-i", "the")), ("sha256", ()), ("merge", ())]
)
def test_two_runs_give_the_same_bytes_and_the_same_fuel(job, name, args) -> None:
    text = b"".join(b"line %04d of The text\n" % (i // 200) for i in range(200_000))  # sorted
    first, second = job(name, text, text, args=args), job(name, text, text, args=args)
    assert ok(first) == ok(second) != b""
    assert abs(first[0].fuel_used - second[0].fuel_used) <= FUEL_JITTER


def test_a_64_MiB_input_streams_through_wordcount_under_a_64_MiB_memory_cap(job, tmp_path) -> None:
    block = b"".join(
        b"Stratos mesh %d node, chunk; hello world\n" % (i % 1000) for i in range(25_000)
    )
    big = tmp_path / "big"
    with big.open("wb") as f:
        while f.tell() < 64 * MiB:
            f.write(block)
    copies = big.stat().st_size // len(block)
    outcome, out = job("wordcount", big, limits=Limits(fuel=40_000_000_000, memory_bytes=64 * MiB))
    assert outcome.ok, outcome.error
    (lines, words, size), table = reference_wordcount(block, 10)
    assert parse_wordcount(out) == (
        (lines * copies, words * copies, size * copies),
        [(w, n * copies) for w, n in table],
    )
    print(f"wordcount: {outcome.fuel_used / (size * copies / MiB):,.0f} fuel per MiB")


@pytest.mark.parametrize("cap_mib", [3, 6])
def test_a_go_module_short_of_memory_says_it_hit_the_cap(job, cap_mib) -> None:
    """The Go runtime does not trap when a growth is refused: it prints why and exits 2."""
    many = b" ".join(b"w%d" % i for i in range(300_000))
    outcome, _ = job("wordcount", many, limits=Limits(fuel=10**11, memory_bytes=cap_mib * MiB))
    assert outcome.error == f"hit the memory cap of {cap_mib} MiB (the module exited with status 2)"
    assert b"memory" in outcome.stderr[:200]  # the runtime's own reason, before its dump
