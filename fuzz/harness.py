"""What every parser of untrusted bytes must do, checked the same way for each.

A `Parser` names one place where bytes from a stranger (a NATS message, a gRPC request, a KV
value, a tx, a link a user pastes) are turned into something the mesh acts on. For any input,
it must either return a value — which then satisfies the parser's `invariant` — or raise one of
its `refusals` with a one-sentence message. Anything else is a crash: another exception type, a
message with line breaks or a traceback's length, or an input that takes more than
`EXAMPLE_SECONDS` of CPU or `EXAMPLE_MEMORY_BYTES` of memory (a loop or a list sized by a
number the stranger chose).

Budgets: `make test` runs the "ci" mode — derandomized (the same examples every run, so CI is
reproducible) and a fixed number of examples per test. `make fuzz` runs the "long" mode: random
seeds, many times the examples, and a directory database under .hypothesis/ so a crash found
once is replayed first next time (pytest prints the seed and the shrunk input).
"""

from __future__ import annotations

import contextlib
import resource
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError, Message
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.strategies import SearchStrategy

EXAMPLE_SECONDS = 1.0
"""CPU-time bound per example: each input is at most a few KiB, so an honest parser answers in
milliseconds; a second of CPU means a loop sized by a number in the input."""
EXAMPLE_MEMORY_BYTES = 512 * 1024 * 1024
"""Memory one example may allocate before it fails with MemoryError."""
MAX_SENTENCE_CHARS = 1024
LONG_FACTOR = 50

_mode = {"name": "ci"}


def set_mode(name: str) -> None:
    if name not in ("ci", "long"):
        raise ValueError(f"the fuzz mode is ci or long, not {name!r}")
    _mode["name"] = name


def budget(examples: int) -> settings:
    """Hypothesis settings for one fuzz test: `examples` in ci mode, LONG_FACTOR times that
    with random seeds in long mode. Hypothesis' own deadline is off (timings on a busy 2-core
    machine are noise); `bounded` enforces the wall-clock bound instead."""
    common = {
        "deadline": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    }
    if _mode["name"] == "long":
        return settings(
            max_examples=examples * LONG_FACTOR,
            derandomize=False,
            database=DirectoryBasedExampleDatabase(".hypothesis/fuzz"),
            **common,
        )
    return settings(max_examples=examples, derandomize=True, database=None, **common)


class Hang(BaseException):
    """An example ran past EXAMPLE_SECONDS (a BaseException, so no `except Exception` in the
    parser under test can swallow it)."""


@contextlib.contextmanager
def bounded(
    seconds: float = EXAMPLE_SECONDS, memory_bytes: int = EXAMPLE_MEMORY_BYTES
) -> Iterator[None]:
    """Raise Hang in the middle of whatever uses more than `seconds` of CPU, and MemoryError in
    whatever allocates `memory_bytes` more: a loop or a list sized by a number in the input
    must fail the test, not the shared machine. CPU time (SIGPROF), not wall time: a loaded
    machine must not fail an honest parser, and SIGALRM stays pytest-timeout's (the backstop
    for a hang inside C code)."""

    def expired(_sig, _frame):
        raise Hang(f"the parser used more than {seconds} s of CPU on one input")

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space_bytes() + memory_bytes
    previous = signal.signal(signal.SIGPROF, expired)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    if soft == resource.RLIM_INFINITY or cap < soft:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def _address_space_bytes() -> int:
    """This process's virtual memory size now (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def check_sentence(err: BaseException) -> None:
    """A refusal a user or an operator reads: one line, non-empty, of a sane length."""
    text = str(err)
    assert text.strip(), f"{type(err).__name__} with an empty message"
    assert not any(c in text for c in "\n\r\x00"), f"not one line: {text[:200]!r}"
    assert len(text) <= MAX_SENTENCE_CHARS, f"a {len(text)}-character message: {text[:200]!r}..."


@dataclass(frozen=True)
class Parser:
    """One parser of untrusted bytes and what it promises.

    parse: the real code path, bytes in (wrap a message-taking function with `from_wire`).
    refusals: the exception types that are its documented "no".
    seeds: valid messages; the harness mutates them field by field (`mutate.mutated`).
    mutants: more structure-aware inputs, e.g. a mutated manifest signed again so it gets past
        the signature into the rules behind it.
    invariant: called with (input, returned value); asserts what an accepted value guarantees.
    """

    name: str
    parse: Callable[[bytes], object]
    refusals: tuple[type[BaseException], ...]
    seeds: Callable[[], Sequence[Message]] = tuple
    mutants: Callable[[], SearchStrategy[bytes]] | None = None
    invariant: Callable[[bytes, object], None] | None = None
    examples: int = field(default=80)

    def __str__(self) -> str:
        return self.name


class TransportRefused(Exception):
    """Bytes the transport itself refuses before our code runs (gRPC answers a request that does
    not decode with an error status of its own)."""


def from_wire(message_type: type[Message], then: Callable[[Message], object]):
    """A gRPC edge: decode `message_type` (undecodable bytes are the transport's refusal), then
    hand it to `then`, the code a servicer runs."""

    def parse(data: bytes) -> object:
        try:
            msg = message_type.FromString(data)
        except DecodeError as exc:
            raise TransportRefused(str(exc) or "does not decode") from None
        return then(msg)

    return parse


def run_one(parser: Parser, data: bytes) -> object | None:
    """Feed one input; returns the accepted value (None when refused), fails on a crash."""
    try:
        with bounded():
            value = parser.parse(data)
    except TransportRefused:
        return None
    except parser.refusals as err:
        check_sentence(err)
        return None
    if parser.invariant is not None:
        parser.invariant(data, value)
    return value
