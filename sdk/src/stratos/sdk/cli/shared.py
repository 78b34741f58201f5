"""What every `stratos` command shares, so no command module needs another: the two consoles,
JSON output, the one way a command runs async code (`run_async`, with library logs quieted),
reaching the mesh's index, the transfer progress bar, and the edge where an error becomes
"error: <sentence>" and an exit code (`run`).

The command modules (`files`, `mesh`, `chain`, `dev`) import this module; it imports none of
them, nor `app`. Like them it imports nothing heavy at module level (`stratos --help` loads it):
rich, asyncio and the client are loaded where they are used (`lazy`)."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer

from stratos.common import asyncio_noise, env
from stratos.common.errors import ConfigError, FailedPrecondition, StratosError
from stratos.sdk import lazy
from stratos.sdk.home import Home
from stratos.sdk.names import shown

procctl = lazy.module("stratos.sdk.procctl")

T = TypeVar("T")

# Exit codes: a script can tell "nothing happened" (1) from "may still happen" (3).
EXIT_OK = 0
EXIT_ERROR = 1  # an error sentence was printed; nothing was done (or the check failed)
EXIT_USAGE = 2  # click's: the command line itself is wrong
EXIT_PENDING = 3  # a tx was submitted but is not committed (yet): it may still commit
EXIT_INTERRUPTED = 130  # Ctrl-C

out = lazy.LazyConsole()
err = lazy.LazyConsole(stderr=True)


# `stratos node`: its commands come from two modules (drain: cli.mesh; register and unbond:
# cli.chain), which may not import each other, so the group lives here
node_app = typer.Typer(
    name="node",
    help="Nodes of the mesh: drain a storage node before it leaves; register or unbond a "
    "node on the ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def print_json(value: Any) -> None:
    """The one JSON shape every `--json` prints: indented, on stdout, nothing else beside it."""
    print(json.dumps(value, indent=1))


# -- running async work ------------------------------------------------------------------------


LOG_LEVELS = ("debug", "info", "warning", "error")


def quiet_logging() -> None:
    """Library logs go to stderr at warning level, so stdout stays clean for --json. Called
    where the client runs, after its modules are imported: structlog is configured only if one
    of them imported it, since importing it (with rich's tracebacks and pygments) costs ~0.1 s
    of CPU and the client's own modules never log through it. Calling it again changes nothing."""
    name = (env.value("STRATOS_LOG_LEVEL") or "warning").strip().lower()
    if name not in LOG_LEVELS:
        raise ConfigError(f"STRATOS_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {name!r}")
    level = getattr(logging, name.upper())
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    asyncio_noise.install()
    if "structlog" not in sys.modules:
        return
    import structlog

    from stratos.common.logging import CurrentStream

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=CurrentStream("stderr")),
    )


def run_async(work: Callable[[], Awaitable[T]]) -> T:
    """The one way a command runs async code: library logs quieted, then `work()` to its end on
    a uvloop loop (`stratos.common.eventloop`).
    Import the modules `work` uses before calling (see `quiet_logging`); anything that may fail
    before a connection (finding addresses) belongs inside `work`, after the log level's check."""
    quiet_logging()
    from stratos.common import eventloop

    return eventloop.run(work())  # type: ignore[arg-type]


# -- reaching the mesh -------------------------------------------------------------------------


def index_addresses(home: Home) -> list[str]:
    """The index to talk to; a local mesh that was stopped is "not running", not a dead address."""
    if env.addresses("STRATOS_INDEX_ADDRESS") is None and procctl.index_running(home) is False:
        raise FailedPrecondition(
            f"no mesh is running under {home.root}; start one with 'stratos dev up' "
            "or set STRATOS_INDEX_ADDRESS"
        )
    return home.index_addresses()


def with_client(
    home: Home, work: Callable[[Any], Awaitable[T]], payer_wallet: str | None = None
) -> T:
    """Run `await work(client)` with a MeshClient on the mesh's index, closed afterwards;
    `payer_wallet`: the wallet whose ozone pays for the traffic (default: this home's key)."""
    from stratos.sdk.client import MeshClient
    from stratos.sdk.meshtls import client_tls
    from stratos.sdk.wallet import Wallets

    payer = Wallets(home.keys_dir).identity(payer_wallet) if payer_wallet else None

    async def go() -> T:
        addresses = index_addresses(home)
        credentials = client_tls(home).channel_credentials()
        async with MeshClient(
            addresses, home.identity(), credentials=credentials, payer=payer
        ) as client:
            return await work(client)

    return run_async(go)


@contextmanager
def transfer_progress(verb: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A bytes / speed / ETA bar on stderr (only on a terminal, so redirected stderr holds just
    the error line); yields the `on_progress(byte_delta)` callback."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn(f"[bold]{verb}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err.console,
        transient=True,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task(verb, total=total)
        yield lambda delta: progress.advance(task, delta)


# -- the edge: errors become one sentence and an exit code -------------------------------------


def run(app: Callable[..., Any], argv: list[str] | None = None) -> int:
    """Run the typer `app` on `argv` and return its exit code: EXIT_OK, EXIT_ERROR (one
    "error: <sentence>" line on stderr, never a traceback unless STRATOS_DEBUG=1), EXIT_USAGE,
    a command's own (EXIT_PENDING), or EXIT_INTERRUPTED."""
    try:
        debug = env.value("STRATOS_DEBUG") not in (None, "0")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        app(args=argv, prog_name="stratos")
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return code or EXIT_OK
        print(code, file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except StratosError as exc:
        if debug:
            traceback.print_exc()
        # escaped: a sentence may quote what a stranger's node or index sent
        print(f"error: {shown(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print(
            f"error: internal error: {type(exc).__name__}: {shown(str(exc))} "
            "(set STRATOS_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return EXIT_OK
