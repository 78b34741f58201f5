"""Pure presentation for the `stratos` CLI: sizes in and out, and rich tables built from plain
data. Nothing here touches the network, the disk or the clock, so every function is unit-tested
directly and the commands in `cli.py` / `devcli.py` stay thin."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stratos.common.errors import InvalidArgument

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 1 << 10,
    "mib": 1 << 20,
    "gib": 1 << 30,
    "tib": 1 << 40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")

# Colours for node states as the index reports them (NodeState enum names without the prefix).
_STATE_STYLE = {"LIVE": "green", "SUSPECT": "yellow", "LOST": "red"}


def parse_size(text: str, *, what: str = "size") -> int:
    """'4MiB' → 4194304, '10GB' → 10**10, '512' → 512; anything else is one clear sentence."""
    m = _SIZE_RE.match(text or "")
    unit = m.group(2).lower() if m else None
    if not m or unit not in _UNITS:
        raise InvalidArgument(
            f"{what} {text!r} is not a size; use bytes or a unit such as 512KiB, 4MiB or 10GB"
        )
    value = int(float(m.group(1)) * _UNITS[unit])
    if value <= 0:
        raise InvalidArgument(f"{what} {text!r} must be greater than zero")
    return value


_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_DURATION_S = 100 * 365 * 86400


def parse_duration(text: str, *, what: str = "duration") -> int:
    """'30s', '10m', '1h', '7d', '2w' → seconds; anything else is one clear sentence."""
    m = _DURATION_RE.match(text or "")
    if not m:
        raise InvalidArgument(
            f"{what} {text!r} is not a duration; use a whole number with s, m, h, d or w, "
            "such as 30s, 10m, 1h or 7d"
        )
    seconds = int(m.group(1)) * _SECONDS[m.group(2)]
    if seconds <= 0:
        raise InvalidArgument(f"{what} {text!r} must be greater than zero")
    if seconds > MAX_DURATION_S:
        raise InvalidArgument(f"{what} {text!r} is longer than 100 years")
    return seconds


def human_size(n: int | None) -> str:
    """Binary units with one decimal: 12582912 → '12.0 MiB'; None → '?'."""
    if n is None:
        return "?"
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024 or unit == "PiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def format_time(unix_ms: int, *, seconds: bool = True) -> str:
    """UTC 'YYYY-MM-DD HH:MM:SS'; 0 → '-' (the proto's 'unset')."""
    if not unix_ms:
        return "-"
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    try:
        return datetime.fromtimestamp(unix_ms / 1000, UTC).strftime(fmt)
    except (ValueError, OverflowError, OSError):  # no calendar date: shown as it came
        return f"unix_ms {unix_ms}"


def state_name(value: int | str | None) -> str:
    """NodeState enum value or name → 'LIVE' / 'SUSPECT' / 'LOST' / '?'."""
    if value is None:
        return "?"
    if isinstance(value, str):
        return value.removeprefix("NODE_STATE_") or "?"
    names = {1: "LIVE", 2: "SUSPECT", 3: "LOST"}
    return names.get(value, "?")


def usage(used: int | None, capacity: int | None) -> Text:
    """'3.1 GiB / 10.0 GiB 31%' (coloured by how full) — or '?' when the index was not asked."""
    if used is None or not capacity:
        return Text("?", style="dim")
    frac = min(max(used / capacity, 0.0), 1.0)
    style = "green" if frac < 0.7 else "yellow" if frac < 0.9 else "red"
    text = Text(f"{human_size(used)} / {human_size(capacity)} ")
    text.append(f"{frac:.0%}", style=style)
    return text


def put_line(name: str, size: int, file_id: str) -> str:
    return f"stored {name} ({human_size(size)}) as {file_id}"


def _table(title: str | None = None) -> Table:
    """The CLI's one table style: a rule under the header, no outer edge, tight padding."""
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
    )


def get_line(name: str, size: int, path: str) -> str:
    return f"fetched {name} ({human_size(size)}) to {path}"


def code_text(code: tuple[int, int] | None) -> str | None:
    """(4, 2) → "ec 4+2"; None for a replicated file."""
    return f"ec {code[0]}+{code[1]}" if code else None


def erasure_code(msg: Any) -> tuple[int, int] | None:
    """(k, m) of a Manifest or FileSummary that is erasure coded, else None."""
    if not msg.HasField("erasure"):
        return None
    return msg.erasure.data_shares, msg.erasure.parity_shares


def redundancy(f: Any) -> str:
    """What the replicas column shows: the copy count, or the erasure code."""
    return code_text(erasure_code(f)) or str(f.replicas)


def files_table(files: Iterable[Any]) -> Table:
    """`stratos ls`: one row per FileSummary; an expiry column when some file expires."""
    files = list(files)
    expiring = any(f.expires_unix_ms for f in files)
    table = _table("files")
    table.add_column("ID", style="cyan", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("replicas", justify="right")
    table.add_column("created (UTC)", no_wrap=True)
    if expiring:
        table.add_column("expires (UTC)", no_wrap=True)
    for f in files:
        row = [
            f.file_id,
            f.name,
            human_size(f.size),
            redundancy(f),
            format_time(f.created_unix_ms, seconds=False),
        ]
        if expiring:
            row.append(
                format_time(f.expires_unix_ms, seconds=False) if f.expires_unix_ms else "never"
            )
        table.add_row(*row)
    return table


def file_summary_dict(f: Any) -> dict[str, Any]:
    """A FileSummary as the JSON `stratos ls --json` prints."""
    return {
        "id": f.file_id,
        "name": f.name,
        "size": f.size,
        "replicas": f.replicas,
        "erasure": code_text(erasure_code(f)),
        "segments": f.segments,
        "created_unix_ms": f.created_unix_ms,
        "expires_unix_ms": f.expires_unix_ms,
        "owner": f.owner_public_key.hex(),
    }


def stat_dict(summary: Any, manifest: Any, nodes: Mapping[str, Any]) -> dict[str, Any]:
    """`stratos stat --json`: the summary plus every segment with its nodes and their states."""
    out = file_summary_dict(summary)
    out["segment_size"] = manifest.segment_size

    def states(node_ids: Iterable[str]) -> dict[str, str]:
        return {n: state_name(nodes[n].state) if n in nodes else "UNKNOWN" for n in node_ids}

    segments = []
    for s in manifest.segments:
        seg: dict[str, Any] = {
            "index": s.index,
            "chunk_id": s.chunk_id,
            "plain_size": s.plain_size,
            "stored_size": s.stored_size,
            "nodes": states(s.node_ids),
        }
        if s.shares:
            seg["shares"] = [
                {
                    "index": h.index,
                    "chunk_id": h.chunk_id,
                    "size": h.size,
                    "nodes": states(h.node_ids),
                }
                for h in s.shares
            ]
        segments.append(seg)
    out["segments"] = segments
    return out


def stat_summary(summary: Any, manifest: Any) -> Table:
    """`stratos stat`: the file's facts as a two-column grid."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("id", summary.file_id)
    grid.add_row("name", summary.name)
    grid.add_row("size", f"{human_size(summary.size)} ({summary.size} bytes)")
    code = erasure_code(manifest)
    if code:
        k, m = code
        grid.add_row("replicas", f"{code_text(code)} (any {k} of {k + m} shares rebuild it)")
    else:
        grid.add_row("replicas", str(summary.replicas))
    grid.add_row("segments", f"{summary.segments} of {human_size(manifest.segment_size)}")
    grid.add_row("created", format_time(summary.created_unix_ms) + " UTC")
    if summary.expires_unix_ms:
        grid.add_row("expires", format_time(summary.expires_unix_ms) + " UTC")
    grid.add_row("owner", summary.owner_public_key.hex()[:16] + "…")
    return grid


def segments_table(manifest: Any, nodes: Mapping[str, Any], replicas: int) -> Table:
    """Per segment: chunk ID, size, how many copies (or erasure-coded shares) sit on LIVE nodes,
    and each node's state; yellow when some are missing but the segment is still readable."""
    table = _table("segments")
    table.add_column("#", justify="right")
    table.add_column("chunk", style="cyan", no_wrap=True)
    table.add_column("size", justify="right")
    table.add_column("live", justify="right")
    table.add_column("nodes")
    code = erasure_code(manifest)
    for s in manifest.segments:
        cells = Text()
        live = 0
        # A replicated segment lists its copies; an erasure-coded one its shares, one node each.
        holders = (
            [(f"{h.index}:", n) for h in s.shares for n in h.node_ids]
            if code
            else [("", n) for n in s.node_ids]
        )
        for i, (label, node_id) in enumerate(holders):
            state = state_name(nodes[node_id].state) if node_id in nodes else "UNKNOWN"
            live += state == "LIVE"
            if i:
                cells.append(", ")
            cells.append(f"{label}{node_id} ", style="bold")
            cells.append(state, style=_STATE_STYLE.get(state, "dim"))
        if code:
            want, enough = sum(code), code[0]
            chunk = f"{len(s.shares)} shares"
        else:
            want, enough = replicas, 1
            chunk = s.chunk_id[:16] + "…"
        short = "green" if live >= want else "yellow" if live >= enough else "red"
        table.add_row(
            str(s.index),
            chunk,
            human_size(s.plain_size),
            Text(f"{live}/{want}", style=short),
            cells,
        )
    return table


def mesh_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """`stratos dev status`: one row per process (rows are `localmesh.StatusRow.to_dict()`);
    fits 80 columns, the pids are in `--json`."""
    table = _table("local mesh")
    table.add_column("process", style="bold", no_wrap=True)
    table.add_column("address", no_wrap=True)
    table.add_column("health", min_width=9)
    table.add_column("state")
    table.add_column("used / capacity", no_wrap=True)
    table.add_column("chunks", justify="right")
    for r in rows:
        if not r["running"]:
            health = Text("stopped", style="red")
        elif r["healthy"]:
            health = Text("healthy", style="green")
        else:
            health = Text("unhealthy", style="yellow")
        storage = r["kind"] == "storage"
        state = state_name(r.get("state")) if storage else ""
        style = _STATE_STYLE.get(state, "dim")
        if storage and r.get("draining"):
            state += " draining"
        if storage and r.get("repair_jobs"):
            state += f" +{r['repair_jobs']} jobs"
        if r["kind"] == "validator":
            state = "" if r.get("height") is None else f"height {r['height']}"
        table.add_row(
            r["name"],
            r["address"],
            health,
            Text(state, style=style),
            usage(r.get("used_bytes"), r.get("capacity_bytes")) if storage else Text(""),
            ("?" if r.get("chunks") is None else str(r["chunks"])) if storage else "",
        )
    return table


def next_steps_panel(capability: str, file_id: str) -> Panel:
    """What `stratos dev demo` suggests trying next."""
    lines = [
        "# from the repository: 'source .venv/bin/activate' puts stratos on your PATH",
        "# (or prefix each command with 'uv run')",
        "stratos put FILE",
        "stratos ls",
        f"stratos get {capability} -o out",
        f"stratos stat {file_id}",
        "stratos balance          # the default wallet holds 1,000,000 STOS",
        "stratos wallet new bob   # then: stratos send <bob's address> 12.5",
        "stratos chain status",
        "stratos dev status",
        "stratos dev kill storage-2",
        "stratos dev down          # or: make stop",
    ]
    return Panel("\n".join(lines), title="Next:", title_align="left", expand=False)


# -- the ledger ---------------------------------------------------------------------------------

_HEALTH_STYLE = {"healthy": "green", "behind": "yellow", "down": "red"}


def short_hash(hex_value: str | None, n: int = 16) -> str:
    if not hex_value:
        return "-"
    return hex_value[:n] + "…" if len(hex_value) > n else hex_value


def chain_status_view(doc: Mapping[str, Any]) -> Table:
    """`stratos chain status`: the chain's facts, then one row per validator
    (`doc` is `chain.summarize_status(...)`)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("chain", doc["chain_id"])
    grid.add_row("height", str(doc["height"]))
    grid.add_row("app hash", short_hash(doc["app_hash"], 32))
    grid.add_row("last block", short_hash(doc["last_block_hash"], 32))
    grid.add_row("last block time", format_time(doc["last_block_time_unix_ms"]) + " UTC")
    table = _table("validators")
    named = any(v["name"] != v["endpoint"] for v in doc["validators"])
    table.add_column("validator", style="bold", no_wrap=True)
    table.add_column("address", style="cyan", no_wrap=True)
    table.add_column("health", no_wrap=True)
    table.add_column("height", justify="right", no_wrap=True)
    table.add_column("last block", no_wrap=True)
    if named:
        table.add_column("endpoint", no_wrap=True)
    for v in doc["validators"]:
        cells = [
            v["name"],
            short_hash(v["address"], 12) if v["address"] else "?",
            Text(v["health"], style=_HEALTH_STYLE.get(v["health"], "dim")),
            "-" if v["height"] is None else str(v["height"]),
            short_hash(v["last_block_hash"], 12),
        ]
        table.add_row(*cells, *([v["endpoint"]] if named else []))
    outer = Table.grid()
    outer.add_row(grid)
    outer.add_row("")
    outer.add_row(table)
    return outer


def block_view(doc: Mapping[str, Any]) -> Table:
    """`stratos chain block`: the header as a grid, then one row per tx (`chain.block_dict`)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("height", str(doc["height"]))
    grid.add_row("hash", doc["hash"] or "-")
    grid.add_row("time", format_time(doc["time_unix_ms"]) + " UTC")
    grid.add_row("proposer", doc["proposer"] or "-")
    grid.add_row("previous block", doc["prev_block_hash"] or "-")
    grid.add_row("app hash after", doc["app_hash"] or "-")
    grid.add_row("precommits", str(doc["precommits"]))
    grid.add_row("txs", str(len(doc["txs"])))
    outer = Table.grid()
    outer.add_row(grid)
    if doc["txs"]:
        table = _table()
        table.add_column("tx", style="cyan", no_wrap=True)
        table.add_column("kind", no_wrap=True)
        table.add_column("from", no_wrap=True)
        table.add_column("to", no_wrap=True)
        table.add_column("STOS", justify="right", no_wrap=True)
        table.add_column("result")
        for tx in doc["txs"]:
            code = tx.get("code")
            result = (
                Text("?", style="dim")
                if code is None
                else Text("ok", style="green")
                if code == 0
                else Text(f"refused: {tx.get('log', '')}", style="red")
            )
            table.add_row(
                short_hash(tx["hash"], 12),
                tx.get("kind", "?"),
                short_hash(tx.get("sender"), 12),
                short_hash(tx.get("to"), 12),
                tx.get("amount", ""),
                result,
            )
        outer.add_row("")
        outer.add_row(table)
    return outer


def wallets_table(wallets: Iterable[Mapping[str, str]]) -> Table:
    """`stratos wallet list`: name and address of each key."""
    table = _table("wallets")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("address", style="cyan", no_wrap=True)
    for w in wallets:
        table.add_row(w["name"], w["address"])
    return table
