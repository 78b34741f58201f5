"""The `stratos` command: put, get, ls, stat and rm files in a mesh, `stratos dev …` to run
one locally, and the STOS ledger's wallet, balance, send and chain commands (`chaincli`).
Commands only translate arguments and print; the SDK client does the work and `render` builds
the output. `main` is the one place errors become "error: <sentence>" and an exit code, so a
user never sees a traceback (unless STRATOS_DEBUG=1).

The client is imported inside the commands, so `stratos --help` and `stratos dev …` keep working
even while the client module is broken. Everything heavy is imported where it is used (`lazy`),
so a command starts in a fraction of a second; help is click's plain text, since typer's rich help
costs another 0.15 s of CPU to import and draw."""

from __future__ import annotations

import json
import logging
import os
import stat as stat_mod
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from stratos.common import env
from stratos.common.errors import (
    ConfigError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    StratosError,
)
from stratos.common.memory import keep_buffers_in_heap
from stratos.sdk import chaincli, devcli, lazy, meshcli
from stratos.sdk.cliparams import MAX_REPLICAS, within
from stratos.sdk.home import Home
from stratos.sdk.names import shown

asyncio = lazy.module("asyncio")
localmesh = lazy.module("stratos.sdk.localmesh")
render = lazy.module("stratos.sdk.render")

app = typer.Typer(
    name="stratos",
    help="Store and fetch files in a Stratos mesh. Try 'stratos dev up' then 'stratos dev demo'.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        print(f"stratos {version('stratos-sdk')}")
        raise typer.Exit()


@app.callback()
def options(
    _version: bool = typer.Option(
        False, "--version", callback=print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """The options of `stratos` itself, before any command."""


app.add_typer(devcli.app, name="dev")
out = lazy.LazyConsole()
err = lazy.LazyConsole(stderr=True)


# -- helpers ------------------------------------------------------------------------------------


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


def index_addresses(home: Home) -> list[str]:
    """The index to talk to; a local mesh that was stopped is "not running", not a dead address."""
    if env.addresses("STRATOS_INDEX_ADDRESS") is None and localmesh.index_running(home) is False:
        raise FailedPrecondition(
            f"no mesh is running under {home.root}; start one with 'stratos dev up' "
            "or set STRATOS_INDEX_ADDRESS"
        )
    return home.index_addresses()


def with_client(home: Home, work: Callable[[Any], Any]) -> Any:
    """Run `await work(client)` against the mesh and close the client afterwards."""
    from stratos.sdk.client import MeshClient

    quiet_logging()
    addresses = index_addresses(home)

    async def go() -> Any:
        async with MeshClient(addresses, home.identity()) as client:
            return await work(client)

    return asyncio.run(go())


def file_id_of(text: str) -> str:
    """A file ID, or the file ID inside a capability."""
    from stratos.sdk.capability import SCHEME, is_file_id, parse_capability

    if is_file_id(text):
        return text
    if text.strip().startswith(SCHEME):
        return parse_capability(text)[0]
    raise InvalidArgument(
        f"{text!r} is not a file ID (32 lowercase hex characters) or a stratos:// capability"
    )


def capability_of(home: Home, text: str) -> str:
    """A capability as given, or the one the keyring holds for a bare file ID."""
    from stratos.sdk.capability import is_file_id, parse_capability

    if is_file_id(text):
        cap = home.capability_for(text)
        if cap is None:
            raise NotFound(
                f"no capability for {text} in this keyring; pass the stratos://… capability"
            )
        return cap
    parse_capability(text)  # a malformed capability fails here, before contacting anything
    return text.strip()


def readable_file(path: Path) -> int:
    """The size of the regular file at `path`, or one sentence saying why it cannot be put."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InvalidArgument(f"{path} does not exist") from None
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror}") from None
    if stat_mod.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"{path} is a directory; put stores one file")
    if not stat_mod.S_ISREG(st.st_mode):
        raise InvalidArgument(f"{path} is not a regular file")
    if not os.access(path, os.R_OK):
        raise InvalidArgument(f"cannot read {path}: permission denied")
    return st.st_size


def parse_code(ec: str | None, replicas: int) -> tuple[int, int] | None:
    """The (k, m) of `--ec`, refused with --replicas (a file has one kind of redundancy)."""
    if ec is None:
        return None
    from stratos.common.erasure import parse_ec

    if replicas != 3:
        raise InvalidArgument("--ec and --replicas cannot be used together; choose one")
    return parse_ec(ec)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=1))


# -- commands -----------------------------------------------------------------------------------


@app.command()
def put(
    path: Path = typer.Argument(..., help="The file to store."),
    replicas: int = typer.Option(
        3, "--replicas", "-r", callback=within(1, MAX_REPLICAS), help="Copies of every segment."
    ),
    ec: str | None = typer.Option(
        None,
        "--ec",
        metavar="K+M",
        help="Erasure code instead of copies: K data + M parity shares on K+M nodes, e.g. 4+2.",
    ),
    segment_size: str | None = typer.Option(
        None, "--segment-size", help="Segment size, e.g. 4MiB (default: the mesh's)."
    ),
    name: str | None = typer.Option(None, help="Display name (default: the file's name)."),
    ttl: str | None = typer.Option(
        None,
        "--ttl",
        metavar="DURATION",
        help="Delete the file this long after it is stored, e.g. 30s, 10m, 1h, 7d "
        "(default: never).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Encrypt and store a file; prints its ID and the capability that reads it."""
    ttl_s = render.parse_duration(ttl, what="--ttl") if ttl is not None else None
    size = readable_file(path)
    code = parse_code(ec, replicas)
    seg = render.parse_size(segment_size, what="segment size") if segment_size else None
    if seg is not None:  # refused here, with or without a mesh to talk to
        from stratos.common.segment_limits import check_segment_count, check_segment_size

        check_segment_count(size, check_segment_size(seg), 1 if code else replicas, code)
    home = Home.from_env()

    async def work(client: Any) -> Any:
        with transfer_progress("put", size) as advance:
            return await client.put(
                path,
                replicas=None if code else replicas,
                erasure=code,
                segment_size=seg,
                name=name,
                on_progress=advance,
                ttl_s=ttl_s,
            )

    res = with_client(home, work)
    home.remember(res.file_id, res.capability)
    if as_json:
        print_json(
            {
                "id": res.file_id,
                "cap": res.capability,
                "name": res.name,
                "size": res.size,
                "segments": res.segments,
                "replicas": res.replicas,
                "erasure": render.code_text(res.erasure),
                "expires_unix_ms": res.expires_unix_ms,
            }
        )
        return
    out.print(render.put_line(res.name, res.size, res.file_id), soft_wrap=True)
    if res.expires_unix_ms:
        err.print(f"expires {render.format_time(res.expires_unix_ms)} UTC", highlight=False)
    print(res.capability)


@app.command()
def get(
    cap_or_id: str = typer.Argument(
        ..., metavar="CAP_OR_ID", help="A stratos:// capability, or a file ID in your keyring."
    ),
    output: str | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Where to write: a file, a folder (the file's name inside it), a FIFO or device, "
        "or - for standard output (default: the file's name in the current folder).",
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing file of the same name in the folder."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Fetch, verify and decrypt a file."""
    to_stdout = output == "-"
    if to_stdout and as_json:
        raise InvalidArgument("-o - writes the file to standard output, so --json cannot; use one")
    home = Home.from_env()
    cap = capability_of(home, cap_or_id)

    async def work(client: Any) -> Any:
        # The size is only known from the manifest, so the bar has no total.
        with transfer_progress("get", None) as advance:
            return await client.get(cap, output, force=force, on_progress=advance)

    res = with_client(home, work)
    path = "standard output" if res.path is None else str(res.path)
    if as_json:
        print_json({"id": res.file_id, "name": res.name, "size": res.size, "path": path})
    else:  # on stderr when stdout carries the file itself
        (err if to_stdout else out).print(render.get_line(res.name, res.size, path), soft_wrap=True)


@app.command("ls")
def ls(
    everyone: bool = typer.Option(
        False, "--all", help="List every owner's files, not only yours (public by design)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List your files (the ones this STRATOS_HOME's key signed); --all lists every owner's.

    File names are not secret yet: the index, and anyone who runs 'stratos ls --all' against
    it, sees every file's name, size and owner key until names are encrypted (issue 11)."""
    files = with_client(Home.from_env(), lambda c: c.list_files(everyone=everyone))
    if as_json:
        print_json([render.file_summary_dict(f) for f in files])
    elif not files and everyone:
        err.print("no files yet; store one with 'stratos put FILE'")
    elif not files:
        err.print(
            "you have no files yet; store one with 'stratos put FILE' "
            "('stratos ls --all' lists every owner's)"
        )
    else:
        out.print(render.files_table(files, width=out.width))


@app.command("stat")
def stat_cmd(
    file_id: str = typer.Argument(..., metavar="ID", help="A file ID (or its capability)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a file's segments, their chunks and the nodes holding them now, with their states."""
    fid = file_id_of(file_id)
    st = with_client(Home.from_env(), lambda c: c.stat(fid))
    if as_json:
        print_json(render.stat_dict(st.summary, st.manifest, st.segments))
        return
    out.print(render.stat_summary(st.summary, st.manifest))
    out.print(render.segments_table(st.segments))


@app.command()
def rm(
    file_id: str = typer.Argument(..., metavar="ID", help="A file ID (or its capability)."),
) -> None:
    """Delete a file you own (the mesh then deletes its chunks)."""
    fid = file_id_of(file_id)
    home = Home.from_env()
    with_client(home, lambda c: c.delete(fid))
    home.forget(fid)
    err.print(f"deleted {fid}")


meshcli.register(app)  # health, node drain
chaincli.register(app)  # wallet, balance, send, chain: after the file commands in --help


# -- the entry point ----------------------------------------------------------------------------


LOG_LEVELS = ("debug", "info", "warning", "error")


def quiet_logging() -> None:
    """Library logs go to stderr at warning level, so stdout stays clean for --json. Called
    where the client runs, after its modules are imported: structlog is configured only if one
    of them imported it, since importing it (with rich's tracebacks and pygments) costs ~0.1 s
    of CPU and the client's own modules never log through it."""
    name = (env.value("STRATOS_LOG_LEVEL") or "warning").strip().lower()
    if name not in LOG_LEVELS:
        raise ConfigError(f"STRATOS_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {name!r}")
    level = getattr(logging, name.upper())
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    if "structlog" not in sys.modules:
        return
    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, 1 error, 2 usage, 130 interrupted."""
    try:
        debug = env.value("STRATOS_DEBUG") not in (None, "0")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        app(args=argv, prog_name="stratos")
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except StratosError as exc:
        if debug:
            traceback.print_exc()
        # escaped: a sentence may quote what a stranger's node or index sent
        print(f"error: {shown(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print(
            f"error: internal error: {type(exc).__name__}: {shown(str(exc))} "
            "(set STRATOS_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1
    return 0


def main() -> None:
    keep_buffers_in_heap()
    sys.exit(run())
