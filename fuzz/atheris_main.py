"""Coverage-guided fuzzing of one registered parser with Atheris (libFuzzer for Python), for
crash hunts longer than `make fuzz`. Atheris is not a project dependency (Hypothesis runs in
`make test`); uv fetches it for the run without touching uv.lock:

    uv run --with atheris python -m fuzz.atheris_main <parser> [libFuzzer options]
    uv run --with atheris python -m fuzz.atheris_main sdk.capability -max_total_time=600

The same property as the Hypothesis tests (`harness.run_one`): a crash leaves its input in a
`crash-*` file, which becomes an explicit example in test_fuzz_regressions.py. With no
<parser>, it lists the registered ones.
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from pathlib import Path


def seed_corpus(parser) -> Path:
    """.atheris/<parser>/: the parser's valid seeds and some of its mutants, where libFuzzer
    starts (a check like `startswith("stratos://")` is not something it can guess) and keeps
    what it finds, so the next run goes on from there."""
    corpus = Path(".atheris") / parser.name
    corpus.mkdir(parents=True, exist_ok=True)
    inputs = [s.SerializeToString() for s in parser.seeds()]
    if parser.mutants is not None:
        strategy = parser.mutants()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # .example() is meant for interactive use: this is
            inputs += [strategy.example() for _ in range(32)]
    for data in inputs:
        (corpus / hashlib.sha256(data).hexdigest()[:16]).write_bytes(data)
    return corpus


def main(argv: list[str]) -> int:
    from fuzz.parsers import PARSERS

    names = {p.name: p for p in PARSERS}
    if len(argv) < 2 or argv[1] not in names:
        print("usage: python -m fuzz.atheris_main <parser> [libFuzzer options]; parsers:")
        for name in names:
            print(f"  {name}")
        return 2
    import atheris

    from fuzz.harness import run_one

    parser = names[argv[1]]
    corpus = seed_corpus(parser)
    atheris.instrument_all()  # coverage of every module loaded, the parser's included
    atheris.Setup([argv[0], *argv[2:], str(corpus)], lambda data: run_one(parser, data))
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
