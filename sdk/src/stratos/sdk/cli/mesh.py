"""`stratos health` and `stratos node drain`: how redundant the mesh's files are right now, and
taking a storage node out of service without losing any of it. Thin commands over the index's
GetHealth / DrainNode / GetDrainStatus; errors reach `shared.run`, which prints one sentence."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from stratos.common.errors import DeadlineExceeded
from stratos.sdk import lazy
from stratos.sdk.cli.params import MAX_WAIT_S, within
from stratos.sdk.cli.shared import err, index_addresses, out, print_json, run_async
from stratos.sdk.cli.shared import node_app as shared_node_app
from stratos.sdk.home import Home

render = lazy.module("stratos.sdk.render")

app = typer.Typer()  # top-level commands: health
node_app = shared_node_app  # `stratos node`: drain here; register and unbond in cli.chain
POLL_S = 1.0


def call_index(method: str, request: Any) -> Any:
    """One call of the index's `method`, through the mesh this STRATOS_HOME points at."""
    from stratos.sdk import transfer
    from stratos.sdk.meshtls import client_tls

    async def call() -> Any:
        home = Home.from_env()
        addresses = index_addresses(home)
        channels = transfer.Channels(client_tls(home).channel_credentials())
        try:
            return await transfer.IndexClient(addresses, channels).call(method, request)
        finally:
            await channels.close()

    return run_async(call)


def health_dict(resp: Any) -> dict[str, Any]:
    from stratos.v1 import types_pb2

    return {
        "files": resp.files,
        "healthy": resp.healthy,
        "degraded": resp.degraded,
        "repairing": resp.repairing,
        "unrecoverable": resp.unrecoverable,
        "bytes_to_repair": resp.bytes_to_repair,
        "bytes_stuck": resp.bytes_stuck,
        "bytes_lost": resp.bytes_lost,
        "repair_bytes_per_s": round(resp.repair_bytes_per_s, 1),
        "eta_s": round(resp.eta_s, 1),
        "eta_reason": resp.eta_reason,
        "stuck": [{"reason": g.reason, "chunks": g.chunks, "bytes": g.bytes} for g in resp.stuck],
        "lost_files": [{"file_id": f.file_id, "reason": f.reason} for f in resp.lost_files],
        "waiting_on": list(resp.waiting_on),
        "nodes": [
            {
                "node_id": n.node_id,
                "state": types_pb2.NodeState.Name(n.state).removeprefix("NODE_STATE_"),
                "chunks": n.chunks,
                "bytes": n.bytes,
                "draining": n.draining,
                "jobs_outstanding": n.jobs_outstanding,
            }
            for n in resp.nodes
        ],
    }


def eta_text(doc: dict[str, Any]) -> str:
    """The ETA cell: seconds when known, "-" when nothing is left to repair, "never" when only
    stuck bytes are left, "?" when repair has not measured a rate yet (the reason follows)."""
    if doc["eta_s"]:
        return f"{doc['eta_s']:.0f} s"
    if not doc["bytes_to_repair"]:
        return "never" if doc["bytes_stuck"] else "-"
    return "?"


@app.command("health")
def health(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Files healthy / degraded / repairing / unrecoverable; bytes to repair, stuck (no node can
    take them) and lost; the ETA or why it is unknown; per node."""
    from stratos.v1 import index_pb2

    doc = health_dict(call_index("GetHealth", index_pb2.GetHealthRequest()))
    if as_json:
        print_json(doc)
        return
    from rich.table import Table

    summary = Table(title="mesh health", show_header=True)
    cols = ("files", "healthy", "degraded", "repairing", "unrecoverable", "to repair", "stuck")
    for col in (*cols, "lost", "ETA"):
        summary.add_column(col, justify="right")
    summary.add_row(
        *(str(doc[k]) for k in ("files", "healthy", "degraded", "repairing", "unrecoverable")),
        render.human_size(doc["bytes_to_repair"]),
        render.human_size(doc["bytes_stuck"]),
        render.human_size(doc["bytes_lost"]),
        eta_text(doc),
    )
    out.print(summary)
    if doc["eta_reason"]:
        out.print(f"ETA {eta_text(doc)}: {doc['eta_reason']}", highlight=False, markup=False)
    for g in doc["stuck"]:
        out.print(
            f"stuck: {g['chunks']} chunks, {render.human_size(g['bytes'])}: {g['reason']}",
            highlight=False,
            markup=False,
        )
    if doc["lost_files"]:
        out.print(f"unrecoverable: {doc['unrecoverable']} files cannot be read:", highlight=False)
        for f in doc["lost_files"]:
            out.print(
                f"  {f['file_id']}  {f['reason']}",
                highlight=False,
                markup=False,
            )
    nodes = Table(title="storage nodes")
    for col in ("node", "state", "chunks", "stored", "draining", "repair jobs"):
        nodes.add_column(
            col,
            justify="right" if col in ("chunks", "stored", "repair jobs") else "left",
            overflow="fold",  # a node ID is copied into `node drain`: never cut
        )
    for n in doc["nodes"]:
        nodes.add_row(
            render.literal(n["node_id"]),
            n["state"],
            str(n["chunks"]),
            render.human_size(n["bytes"]),
            "yes" if n["draining"] else "",
            str(n["jobs_outstanding"]),
        )
    out.print(nodes)


def drain_dict(status: Any) -> dict[str, Any]:
    from stratos.v1 import index_pb2

    return {
        "node_id": status.node_id,
        "state": index_pb2.DrainState.Name(status.state).removeprefix("DRAIN_STATE_").lower(),
        "chunks_left": status.chunks_left,
        "bytes_left": status.bytes_left,
        "chunks_at_start": status.chunks_at_start,
        "bytes_at_start": status.bytes_at_start,
    }


@node_app.command("drain")
def drain(
    name: str = typer.Argument(..., help="The storage node, e.g. storage-3."),
    cancel: bool = typer.Option(False, "--cancel", help="Stop draining it (moved chunks stay)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the drain until it is done."),
    timeout: float = typer.Option(
        3600.0,
        callback=within(0.0, 7 * MAX_WAIT_S),
        help="Seconds to follow the drain before giving up.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the final status as JSON."),
    admin_key: Path | None = typer.Option(
        None,
        "--admin-key",
        help="The mesh admin's key (PEM) that signs the request; default: the local mesh's, "
        "under STRATOS_HOME.",
    ),
) -> None:
    """Move every chunk off a storage node; it then reports 'drained' and can be stopped with no
    loss of redundancy. Refused when the other nodes cannot hold every file's redundancy. An
    admin action: signed with the mesh's admin key."""
    from stratos.common.admin_auth import sign_request
    from stratos.sdk.mesh_trust import admin_identity
    from stratos.v1 import index_pb2

    admin = admin_identity(Home.from_env(), admin_key)
    request = index_pb2.DrainNodeRequest(node_id=name, cancel=cancel)
    request.admin.CopyFrom(sign_request(admin, "DrainNode", request))
    status = call_index("DrainNode", request)
    if cancel or not wait:
        _report(status, as_json)
        return
    status = _follow(name, status, timeout)
    _report(status, as_json)


def _follow(name: str, status: Any, timeout: float) -> Any:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from stratos.v1 import index_pb2

    deadline = time.monotonic() + timeout
    progress = Progress(
        TextColumn(f"[bold]draining {name}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TimeRemainingColumn(),
        console=err.console,
        transient=True,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task("drain", total=max(1, status.bytes_at_start))
        while status.state != index_pb2.DRAIN_STATE_DRAINED:
            progress.update(task, completed=status.bytes_at_start - status.bytes_left)
            if time.monotonic() >= deadline:
                raise DeadlineExceeded(
                    f"{name} still holds {status.chunks_left} chunks after {timeout:g} s; the "
                    f"drain goes on, follow it with 'stratos node drain {name}'"
                )
            time.sleep(POLL_S)
            status = call_index("GetDrainStatus", index_pb2.GetDrainStatusRequest(node_id=name))
    return status


def _report(status: Any, as_json: bool) -> None:
    doc = drain_dict(status)
    if as_json:
        print_json(doc)
    elif doc["state"] == "drained":
        err.print(
            f"{doc['node_id']} drained: {doc['chunks_at_start']} chunks moved away; it can be "
            "stopped without losing redundancy"
        )
    elif doc["state"] == "cancelled":
        err.print(f"drain of {doc['node_id']} cancelled; chunks already moved stay where they are")
    else:
        err.print(
            f"{doc['node_id']} {doc['state']}: {doc['chunks_left']} of {doc['chunks_at_start']} "
            "chunks left"
        )
