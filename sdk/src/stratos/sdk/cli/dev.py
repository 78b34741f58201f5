"""`stratos dev …`: run a whole mesh on this machine (nats-server, the index, storage nodes and,
with `--validators N`, validators of the STOS ledger) and poke at it — start, stop, kill a node,
read its log, or run a put/get demo. Thin commands over
`localmesh` (the logic) and `render` (the tables); no client import until `demo` needs it."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path
from typing import Any

import typer

from stratos.sdk import lazy
from stratos.sdk.cli.params import MAX_LOG_LINES, MAX_WAIT_S, within
from stratos.sdk.cli.shared import (
    err,
    out,
    print_json,
    quiet_logging,
    transfer_progress,
    with_client,
)
from stratos.sdk.home import Home
from stratos.sdk.meshplan import (
    DEFAULT_INCENTIVE,
    DEFAULT_VALIDATORS,
    MAX_INCENTIVE,
    MAX_STORAGE_ADDED,
    MAX_STORAGE_NODES,
    MAX_VALIDATORS,
)

localmesh = lazy.module("stratos.sdk.localmesh")
render = lazy.module("stratos.sdk.render")

app = typer.Typer(
    name="dev",
    help="Run a local mesh on this machine (nats-server, index, storage nodes, validators).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

DEMO_BYTES = 12 << 20


@app.command()
def up(
    storage_nodes: int = typer.Option(
        3,
        "--storage-nodes",
        "-n",
        callback=within(1, MAX_STORAGE_NODES),
        help="Storage nodes to run.",
    ),
    capacity: str = typer.Option("10GiB", help="Capacity of each new storage node."),
    wait: float = typer.Option(
        60.0,
        callback=within(0.0, MAX_WAIT_S),
        help="Seconds to wait for every process to be healthy.",
    ),
    validators: int = typer.Option(
        DEFAULT_VALIDATORS,
        "--validators",
        callback=within(0, MAX_VALIDATORS),
        help="STOS ledger validators to run: 0, 1 or at least 4 (kept once the chain exists).",
    ),
    incentive: int = typer.Option(
        DEFAULT_INCENTIVE,
        "--incentive",
        callback=within(1, MAX_INCENTIVE),
        help="Incentive replicas (the chain's meta nodes; 2/3 of them settle an epoch) to run "
        "with the validators (kept once the chain exists).",
    ),
) -> None:
    """Start the mesh (only what is down); returns when every process is healthy."""
    home = Home.from_env()
    cap = render.parse_size(capacity, what="capacity")
    localmesh.check_validator_count(validators)
    with err.status("starting the local mesh…"):
        report = localmesh.up(
            home,
            storage_nodes=storage_nodes,
            capacity_bytes=cap,
            wait_s=wait,
            validators=validators,
            incentive=incentive,
        )
    err.print(report.message)
    out.print(render.mesh_table([r.to_dict() for r in localmesh.status(home)]))


@app.command("add-storage")
def add_storage(
    count: int = typer.Option(
        1,
        "--count",
        "-n",
        callback=within(1, MAX_STORAGE_ADDED),
        help="How many storage nodes to add.",
    ),
    capacity: str = typer.Option(
        None, help="Capacity of each new node (default: that of the last storage node)."
    ),
    wait: float = typer.Option(
        60.0, callback=within(0.0, MAX_WAIT_S), help="Seconds to wait for them to be LIVE."
    ),
) -> None:
    """Add storage nodes to the running mesh; the mesh moves onto them only the chunks that
    now rank there."""
    home = Home.from_env()
    cap = render.parse_size(capacity, what="capacity") if capacity is not None else None
    with err.status("starting storage nodes…"):
        added = localmesh.add_storage(home, count=count, capacity_bytes=cap, wait_s=wait)
    err.print(f"added {', '.join(added)}")
    out.print(render.mesh_table([r.to_dict() for r in localmesh.status(home)]))


@app.command()
def down(purge: bool = typer.Option(False, help="Also delete run/ (all stored data).")) -> None:
    """Stop every process (storage, index, then nats). Data is kept unless --purge."""
    home = Home.from_env()
    stopped = localmesh.down(home, purge=purge)
    what = f"stopped {', '.join(stopped)}" if stopped else "nothing was running"
    if purge:
        what += f"; deleted {home.run_dir}"
    err.print(what)


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every process: address, health, and for storage nodes the index's view of them."""
    rows = [r.to_dict() for r in localmesh.status(Home.from_env())]
    if as_json:
        print_json(rows)
    else:
        out.print(render.mesh_table(rows))


@app.command()
def kill(name: str = typer.Argument(..., help="Process name, e.g. storage-2.")) -> None:
    """SIGKILL one process, to watch the mesh cope."""
    if localmesh.kill(Home.from_env(), name):
        err.print(f"killed {name}")
    else:
        err.print(f"{name} was not running")


@app.command()
def start(
    name: str = typer.Argument(..., help="Process name, e.g. storage-2."),
    wait: float = typer.Option(
        30.0, callback=within(0.0, MAX_WAIT_S), help="Seconds to wait for it to be healthy."
    ),
) -> None:
    """Start one stopped process again, with the same port and data."""
    if localmesh.start(Home.from_env(), name, wait_s=wait):
        err.print(f"started {name}")
    else:
        err.print(f"{name} is already running")


@app.command()
def logs(
    name: str = typer.Argument(..., help="Process name, e.g. index."),
    lines: int = typer.Option(
        50,
        "-n",
        "--lines",
        callback=within(1, MAX_LOG_LINES),
        help="How many lines from the end.",
    ),
) -> None:
    """Print the end of one process's log."""
    path = localmesh.log_file(Home.from_env(), name)
    for line in localmesh.tail(path, lines):
        print(line)


@app.command()
def demo() -> None:
    """Start the mesh if needed, put a 12 MiB random file, get it back and compare."""
    import stratos.sdk.client  # noqa: F401  (before quiet_logging: see its docstring)
    from stratos.common.errors import DataLoss
    from stratos.common.files import private_dir

    quiet_logging()  # a bad STRATOS_LOG_LEVEL is refused before a mesh is started
    home = Home.from_env()
    with err.status("making sure the local mesh is up…"):
        localmesh.up(home)
    demo_dir = private_dir(home.run_dir / "demo")
    sample, back = demo_dir / "sample.bin", demo_dir / "sample.out"
    with open(os.open(sample, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(os.urandom(DEMO_BYTES))

    async def roundtrip(client: Any) -> Any:
        with transfer_progress("put", DEMO_BYTES) as advance:
            put = await client.put(sample, replicas=3, on_progress=advance)
        home.remember(put.file_id, put.capability)
        with transfer_progress("get", DEMO_BYTES) as advance:
            await client.get(put.capability, back, on_progress=advance)
        return put

    put = with_client(home, roundtrip)
    if not filecmp.cmp(sample, back, shallow=False):
        raise DataLoss(f"the file read back from the mesh differs from {sample}")
    # soft_wrap: the terminal wraps a long line, rich does not cut it with newlines
    out.print(
        f"[green]✓[/] stored {render.human_size(DEMO_BYTES)} as {put.file_id} on "
        f"{put.replicas} nodes and read it back byte-identical to {Path(back)}",
        soft_wrap=True,
    )
    print(put.capability)  # on a line of its own, never wrapped, so it copies cleanly
    out.print(render.next_steps_panel(put.file_id))
