"""`--fuzz-mode=long` (what `make fuzz` passes) turns the bounded, derandomized fuzz run of
`make test` into a long one with random seeds (see harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from fuzz.harness import set_mode


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-mode",
        choices=("ci", "long"),
        default="ci",
        help="ci: fixed examples, derandomized (make test); long: 50x examples, random seeds",
    )


def pytest_configure(config: pytest.Config) -> None:
    set_mode(config.getoption("--fuzz-mode"))


@pytest.fixture(autouse=True)
def _quiet_structlog() -> Iterator[None]:
    """Handlers under test log what they drop. Their log lines are still rendered (the JSON of a
    stranger's values is part of the path) but returned, not printed: thousands of examples
    would flood the output, and a process-wide config left by an earlier test may point at a
    stdout pytest has closed since."""
    saved = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    yield
    structlog.configure(**saved)
