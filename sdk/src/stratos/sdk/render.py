"""Pure presentation for the `stratos` CLI: sizes in and out, and rich tables built from plain
data. Nothing here touches the network, the disk or the clock, so every function is unit-tested
directly and the commands in `cli/` stay thin.

Two rules for what comes from others (file names, node IDs, anything an index or node said):
it goes into a `Text` through `names.shown` — never into a markup string, where `[red]` would be
a style and `\x1b[…` would reach the terminal; and what a user copies (file IDs, names, node
IDs) folds onto the next line when a table is narrow, never cut with "…"."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich import box
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stratos.common.errors import InvalidArgument
from stratos.sdk.names import shown

if TYPE_CHECKING:  # only for annotations: rendering never needs the protobuf modules loaded
    from stratos.sdk import holdings
    from stratos.sdk.file_names import ListedFile

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

# Colours for node states as the CLI shows them (NodeState names without the prefix, DRAINING).
_STATE_STYLE = {"LIVE": "green", "SUSPECT": "yellow", "LOST": "red", "DRAINING": "blue"}


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


def literal(text: str) -> Text:
    """What a stranger chose (a name, a node ID), as a table cell or line: escaped, no markup."""
    return Text(shown(text))


def put_line(name: str, size: int, file_id: str) -> Text:
    return Text(f"stored {shown(name)} ({human_size(size)}) as {shown(file_id)}")


def _table(title: str | None = None) -> Table:
    """The CLI's one table style: a rule under the header, no outer edge, tight padding."""
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
    )


def get_line(name: str, size: int, path: str) -> Text:
    return Text(f"fetched {shown(name)} ({human_size(size)}) to {shown(path)}")


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


_ID_CHARS = 32
_TIME_CHARS = 16  # "2023-11-14 22:13"; 10 when it wraps to date / time


def name_text(f: ListedFile) -> Text:
    """A file's name, or its placeholder (dimmed) when the name is sealed from this caller."""
    if f.name is not None:
        return Text(shown(f.name))
    return Text(f.shown_name, style="dim")


def files_table(files: Iterable[ListedFile], width: int | None = None) -> Table:
    """`stratos ls`: one row per file; an expiry column when some file expires. A name this
    caller holds no key for shows as "(encrypted)" beside the file's ID.

    A file ID is never cut or folded (it is what a user copies). When `width` (the terminal's)
    cannot hold a name column beside it, the name goes on the line under the ID and folds there,
    and the times wrap to date / time — so at 80 columns nothing is cut."""
    files = list(files)
    expiring = any(f.summary.expires_unix_ms for f in files)
    times = 2 if expiring else 1
    # ID, a name of 16, size, replicas and the times, with two spaces between columns
    wide = _ID_CHARS + 16 + 10 + 8 + times * _TIME_CHARS + 2 * (3 + times)
    stacked = width is not None and width < wide
    table = _table("files")
    table.pad_edge = False
    if stacked:
        table.add_column("ID / name", min_width=_ID_CHARS, overflow="fold")
    else:
        table.add_column("ID", style="cyan", no_wrap=True, min_width=_ID_CHARS)
        table.add_column("name", overflow="fold", min_width=16)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("replicas", justify="right", no_wrap=True)
    # two time columns do not fit beside a stacked ID at 80 columns: date and time on two lines
    split = "\n" if stacked and expiring else " "
    table.add_column(f"created{split}(UTC)", no_wrap=True)
    if expiring:
        table.add_column(f"expires{split}(UTC)", no_wrap=True)

    def when(unix_ms: int) -> str:
        return format_time(unix_ms, seconds=False).replace(" ", split)

    for entry in files:
        f = entry.summary
        file_id, name = Text(shown(f.file_id), style="cyan"), name_text(entry)
        row: list[Any] = [Text.assemble(file_id, "\n", name)] if stacked else [file_id, name]
        row += [human_size(f.size), redundancy(f), when(f.created_unix_ms)]
        if expiring:
            row.append(when(f.expires_unix_ms) if f.expires_unix_ms else "never")
        table.add_row(*row)
    return table


def file_summary_dict(entry: ListedFile) -> dict[str, Any]:
    """A file as the JSON `stratos ls --json` prints: "name" is null when it is sealed from
    this caller ("sealed" says whether the index holds it sealed at all; "name_problem" why a
    key this caller holds did not open it)."""
    f = entry.summary
    doc: dict[str, Any] = {
        "id": f.file_id,
        "name": entry.name,
        "sealed": not entry.legacy,
        "size": f.size,
        "replicas": f.replicas,
        "erasure": code_text(erasure_code(f)),
        "segments": f.segments,
        "created_unix_ms": f.created_unix_ms,
        "expires_unix_ms": f.expires_unix_ms,
        "owner": f.owner_public_key.hex(),
    }
    if entry.problem:
        doc["name_problem"] = entry.problem
    return doc


def stat_dict(
    entry: ListedFile, manifest: Any, segments: Sequence[holdings.SegmentView]
) -> dict[str, Any]:
    """`stratos stat --json`: the summary plus every segment with the nodes holding it now and
    their states (`holdings.segment_views`), the same truth the table shows."""
    out = file_summary_dict(entry)
    out["segment_size"] = manifest.segment_size

    def states(piece: holdings.Piece) -> dict[str, str]:
        return {h.node_id: h.state for h in piece.holders}

    docs = []
    for s in segments:
        seg: dict[str, Any] = {
            "index": s.index,
            "chunk_id": s.chunk_id,
            "plain_size": s.plain_size,
            "stored_size": s.stored_size,
            "nodes": {} if s.coded else states(s.pieces[0]),
            "live": s.live,
            "target": s.target,
        }
        if s.coded:
            seg["shares"] = [
                {"index": p.share, "chunk_id": p.chunk_id, "size": p.size, "nodes": states(p)}
                for p in s.pieces
            ]
        docs.append(seg)
    out["segments"] = docs
    return out


def stat_summary(entry: ListedFile, manifest: Any) -> Table:
    """`stratos stat`: the file's facts as a two-column grid."""
    summary = entry.summary
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("id", Text(shown(summary.file_id)))
    grid.add_row("name", name_text(entry))
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


def segments_table(segments: Sequence[holdings.SegmentView]) -> Table:
    """Per segment: chunk ID, size, how many copies (or erasure-coded shares) sit on LIVE nodes
    of how many wanted, and the nodes holding them now with their states; yellow when some are
    missing but the segment can still be read, red when it cannot."""
    table = _table("segments")
    table.add_column("#", justify="right")
    table.add_column("chunk", style="cyan", no_wrap=True, min_width=17)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("live", justify="right")
    table.add_column("nodes", overflow="fold")
    for s in segments:
        cells = Text()
        held = [
            (f"{p.share}:" if p.share is not None else "", h) for p in s.pieces for h in p.holders
        ]
        for i, (label, holder) in enumerate(held):
            if i:
                cells.append(", ")
            cells.append(f"{label}{shown(holder.node_id)} ", style="bold")
            cells.append(holder.state, style=_STATE_STYLE.get(holder.state, "dim"))
        chunk = f"{len(s.pieces)} shares" if s.coded else s.chunk_id[:16] + "…"
        short = "green" if s.live >= s.target else "yellow" if s.reachable >= s.needed else "red"
        table.add_row(
            str(s.index),
            chunk,
            human_size(s.plain_size),
            Text(f"{s.live}/{s.target}", style=short),
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


def next_steps_panel(file_id: str) -> Panel:
    """What `stratos dev demo` suggests trying next. It fits 80 columns, so no line wraps; the
    capability is not in it (it is longer than a panel line at 80 columns, and a wrapped one
    breaks copy-paste): the demo prints it on a line of its own, and `get` by ID finds it in
    the keyring."""
    lines = [
        "# in the repository, 'source .venv/bin/activate' puts stratos on your PATH",
        "# (or prefix each command with 'uv run')",
        "stratos put FILE",
        "stratos ls",
        f"stratos stat {file_id}",
        f"stratos get {file_id}   # saved here under its name",
        "stratos balance          # the default wallet holds 1,000,000 STOS",
        "stratos wallet new bob   # then: stratos send <bob's address> 12.5",
        "stratos chain status",
        "stratos dev status",
        "stratos dev kill storage-2",
        "stratos dev down          # or: make stop",
    ]
    return Panel(Text("\n".join(lines)), title="Next:", title_align="left", expand=False)


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


def epoch_view(doc: Mapping[str, Any]) -> Table:
    """`stratos chain epoch` (`chain.epoch_dict`): the settlement facts, then the last settled
    report's traffic, one row per node."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("height", str(doc["height"]))
    grid.add_row("epoch", f"{doc['current_epoch']} ({doc['epoch_blocks']} blocks each)")
    grid.add_row("next to settle", str(doc["next_to_settle"]))
    grid.add_row("bonded meta nodes", str(doc["bonded_meta_nodes"]))
    grid.add_row("mined so far", f"{doc['minted']} STOS")
    last = doc["last_settled"]
    outer = Table.grid()
    outer.add_row(grid)
    if last is None:
        grid.add_row("last settled", "none yet")
        return outer
    grid.add_row("last settled", f"epoch {last['epoch']} at height {last['height']}")
    grid.add_row("result", last["result"])
    grid.add_row("signed by", ", ".join(short_hash(a, 12) for a in last["signers"]))
    if last["traffic"]:
        table = _table(f"epoch {last['epoch']} traffic")
        table.add_column("node", style="cyan", no_wrap=True)
        table.add_column("bytes", justify="right", no_wrap=True)
        table.add_column("failed audits", justify="right", no_wrap=True)
        for t in last["traffic"]:
            table.add_row(
                short_hash(t["node"], 12), human_size(t["bytes"]), str(t["audits_failed"])
            )
        outer.add_row(table)
    return outer


def last_traffic_line(kind: str, last: Mapping[str, Any]) -> str:
    """`stratos ozone`: what the wallet's last put or get moved and cost (`chain.ozone_dict`)."""
    when = format_time(last["at_unix_ms"]) + " UTC" if last.get("at_unix_ms") else "?"
    cost = f", {last['cost_now']} STOS at today's price" if last.get("cost_now") else ""
    return (
        f"your last {kind}: {last.get('name') or last.get('id', '?')} "
        f"({human_size(last.get('size', 0))}, {when}) moved {last['ozone']} ozone{cost}"
    )


def rewards_view(doc: Mapping[str, Any]) -> Table:
    """`stratos rewards` (`chain.rewards_dict`): one row per settled epoch, then one per node."""
    outer = Table.grid()
    if not doc["epochs"]:
        outer.add_row("no epoch has settled yet")
        return outer
    table = _table("settled epochs (STOS)")
    for col in ("epoch", "height", "bytes", "paid by ozone", "traffic reward", "mined", "slashed"):
        table.add_column(col, justify="left" if col == "epoch" else "right", no_wrap=True)
    for e in doc["epochs"]:
        table.add_row(
            str(e["epoch"]),
            str(e["height"]),
            human_size(e["bytes"]),
            human_size(e["ozone"]),
            e["traffic_reward"] or "?",
            e["mined"] or "?",
            str(e["nodes_slashed"] or 0),
        )
    outer.add_row(table)
    if doc["nodes"]:
        nodes = _table("who earned what over these epochs")
        cols = ("address", "bytes served", "share", "failed audits", "earned (STOS)", "slashed")
        for col in cols:
            nodes.add_column(col, justify="left" if col == "address" else "right", no_wrap=True)
        for n in doc["nodes"]:
            nodes.add_row(
                n["node"],
                human_size(n["bytes"]),
                f"{n['share']:.0%}",
                str(n["audits_failed"]),
                n.get("earned", "0"),
                n.get("slashed", "0"),
            )
        outer.add_row(nodes)
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


_TX_STATE_STYLE = {"committed": "green", "pending": "yellow", "dropped": "red", "unknown": "dim"}


def tx_state_text(doc: Mapping[str, Any]) -> Text:
    """One line saying where a tx is (`doc` is `TxStatus.to_dict`)."""
    state = doc["state"]
    if state == "committed":
        line = f"committed at height {doc['height']} (index {doc['index']} in the block)"
    elif state == "pending":
        where = ", ".join(doc["pending_on"])
        line = f"pending in the mempool of {where}; not committed yet"
    elif state == "dropped":
        line = f"dropped after block {doc['height']}: it no longer applies and will not commit"
    else:
        line = "unknown to every validator that answered"
    return Text(line, style=_TX_STATE_STYLE.get(state, ""))


def tx_view(doc: Mapping[str, Any]) -> Table:
    """`stratos tx`: the tx's state, its result, and what it says (`TxStatus.to_dict`)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("tx", Text(doc["tx_hash"], no_wrap=True))
    grid.add_row("state", tx_state_text(doc))
    if doc["state"] == "committed":
        ok = doc["code"] == 0
        grid.add_row(
            "result",
            Text(
                f"ok: {doc['log']}" if ok else f"refused (code {doc['code']}): {doc['log']}",
                style="green" if ok else "red",
            ),
        )
    elif doc["state"] == "dropped":
        grid.add_row("why", Text(doc["log"], style="red"))
    if doc["unreachable"] and doc["state"] != "committed":
        grid.add_row("not answering", ", ".join(doc["unreachable"]))
    grid.add_row("chain height", str(doc["latest_height"]))
    tx = doc.get("tx") or {}
    for key, label in (
        ("kind", "kind"),
        ("sender", "from"),
        ("to", "to"),
        ("amount", "amount"),
        ("fee", "fee"),
        ("nonce", "nonce"),
    ):
        if tx.get(key) not in (None, ""):
            value = str(tx[key]) + (" STOS" if key in ("amount", "fee") else "")
            grid.add_row(label, Text(value, no_wrap=key in ("sender", "to")))
    return grid
