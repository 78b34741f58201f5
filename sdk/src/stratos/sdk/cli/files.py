"""`stratos put`, `get`, `ls`, `stat` and `rm`: files in a mesh. Commands only translate
arguments and print; `MeshClient` does the work (and checks a put's options: `put_options`),
`render` builds the output, and errors reach `shared.run`, which prints one sentence.

The client is imported inside the commands, so `stratos --help` and `stratos dev …` keep working
even while the client module is broken, and start in a fraction of a second (`lazy`)."""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from stratos.common.errors import InvalidArgument, NotFound
from stratos.sdk import lazy
from stratos.sdk.cli.shared import err, out, print_json, transfer_progress, with_client
from stratos.sdk.home import Home
from stratos.sdk.put_options import DEFAULT_REPLICAS

render = lazy.module("stratos.sdk.render")

app = typer.Typer()


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


def key_of(home: Home, text: str) -> bytes | None:
    """The file key in a capability as given, or in the one the keyring holds for a bare ID;
    None when neither has it (the name then stays sealed)."""
    from stratos.sdk.capability import is_file_id, parse_capability

    if is_file_id(text):
        return home.file_keys().get(text)
    return parse_capability(text)[1]


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


@contextmanager
def worded_for_the_command_line() -> Iterator[None]:
    """The SDK's refusals of a put's options (`put_options`), said with the flags' names."""
    from stratos.sdk.put_options import RedundancyConflict, ReplicasOutOfRange

    try:
        yield
    except ReplicasOutOfRange as exc:
        raise InvalidArgument(
            f"--replicas must be between {exc.lo} and {exc.hi}, not {exc.replicas}"
        ) from None
    except RedundancyConflict:
        raise InvalidArgument("--ec and --replicas cannot be used together; choose one") from None


def replicas_in_range(value: int) -> int:
    """--replicas is held to the SDK's range while the command line is parsed, as every number
    is (`params.within`), so it is refused before any other mistake is looked at."""
    from stratos.sdk.put_options import check_redundancy

    with worded_for_the_command_line():
        check_redundancy(value)
    return value


# -- commands -----------------------------------------------------------------------------------


@app.command()
def put(
    path: Path = typer.Argument(..., help="The file to store."),
    replicas: int = typer.Option(
        DEFAULT_REPLICAS,
        "--replicas",
        "-r",
        callback=replicas_in_range,
        help="Copies of every segment.",
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
    from_wallet: str | None = typer.Option(
        None,
        "--from",
        help="The wallet whose ozone pays for the traffic (default: your own key).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Encrypt and store a file; prints its ID and the capability that reads it."""
    from stratos.common.erasure import parse_ec
    from stratos.sdk.put_options import check_redundancy, check_segments

    ttl_s = render.parse_duration(ttl, what="--ttl") if ttl is not None else None
    size = readable_file(path)
    # --replicas at its default is no choice (the SDK's default, which --ec replaces)
    given = replicas if replicas != DEFAULT_REPLICAS else None
    with worded_for_the_command_line():  # refused here, with or without a mesh to talk to
        code = parse_ec(ec) if ec is not None else None
        copies = check_redundancy(given, code)
        seg = render.parse_size(segment_size, what="segment size") if segment_size else None
        if seg is not None:
            check_segments(size, seg, copies, code)
    home = Home.from_env()

    async def work(client: Any) -> Any:
        with transfer_progress("put", size) as advance:
            res = await client.put(
                path,
                replicas=None if code else copies,
                erasure=code,
                segment_size=seg,
                name=name,
                on_progress=advance,
                ttl_s=ttl_s,
            )
        return res, client.payer_address, client.traffic_bytes

    res, payer, ozone = with_client(home, work, from_wallet)
    home.remember(res.file_id, res.capability)
    note_traffic(home, payer, "put", res.file_id, res.name, res.size, ozone)
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
                "ozone": ozone,
            }
        )
        return
    out.print(render.put_line(res.name, res.size, res.file_id), soft_wrap=True)
    if res.expires_unix_ms:
        err.print(f"expires {render.format_time(res.expires_unix_ms)} UTC", highlight=False)
    print(res.capability)


def note_traffic(
    home: Home, payer: str, kind: str, file_id: str, name: str, size: int, ozone: int
) -> None:
    """Remember what this transfer cost the payer, for `stratos ozone` ("your last put")."""
    import time

    entry = {"id": file_id, "name": name, "size": size, "ozone": ozone}
    home.note_traffic(payer, kind, {**entry, "at_unix_ms": int(time.time() * 1000)})


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
    from_wallet: str | None = typer.Option(
        None,
        "--from",
        help="The wallet whose ozone pays for the traffic (default: your own key).",
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
            res = await client.get(cap, output, force=force, on_progress=advance)
        return res, client.payer_address, client.traffic_bytes

    res, payer, ozone = with_client(home, work, from_wallet)
    note_traffic(home, payer, "get", res.file_id, res.name, res.size, ozone)
    path = "standard output" if res.path is None else str(res.path)
    if as_json:
        print_json(
            {"id": res.file_id, "name": res.name, "size": res.size, "path": path, "ozone": ozone}
        )
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

    Names are sealed with each file's key: the index, and anyone who runs 'stratos ls --all',
    sees IDs, sizes, dates and owner keys; a name shows only where this keyring holds the
    file's capability, and is "(encrypted)" elsewhere."""
    home = Home.from_env()
    keys = home.file_keys()
    files = with_client(home, lambda c: c.list_files(everyone=everyone, keys=keys))
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
    """Show a file's segments, their chunks and the nodes holding them now, with their states.
    Its name shows when the capability is given or this keyring holds it."""
    fid = file_id_of(file_id)
    home = Home.from_env()
    key = key_of(home, file_id)
    st = with_client(home, lambda c: c.stat(fid, key))
    if as_json:
        print_json(render.stat_dict(st.listed, st.manifest, st.segments))
        return
    out.print(render.stat_summary(st.listed, st.manifest))
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
