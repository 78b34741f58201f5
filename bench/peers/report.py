"""From samples to what `make bench-peers` reports: each system's median per workload, the
ratios the issue asks of Stratos (against SeaweedFS's filer, and for CPU against its S3
gateway), the result file and the table. Pure, so the unit tests call it directly."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.peers.workloads import (
    CPU_GET_LARGE,
    GET_LARGE,
    GET_SMALL_1,
    GET_SMALL_8,
    PUT_LARGE,
    PUT_SMALL,
    WORKLOADS,
    Sizes,
)
from bench.results import Figure

RESULTS = Path(__file__).parents[1] / "results" / "peers.json"
STRATOS = "stratos"
FILER = "seaweedfs-filer"
S3 = "seaweedfs-s3"
TAHOE = "tahoe"
SYSTEMS = (STRATOS, FILER, S3, TAHOE)  # the table's column order
HEADINGS = {STRATOS: "Stratos", FILER: "SeaweedFS filer", S3: "SeaweedFS S3", TAHOE: "Tahoe-LAFS"}

# (figure, workload, unit, the peer it is measured against, what the issue asks of the ratio)
TARGETS = (
    ("peers.put_256MiB_vs_filer", PUT_LARGE, "MB/s", FILER, "ratio >= 1.0"),
    ("peers.get_256MiB_to_disk_vs_filer", GET_LARGE, "MB/s", FILER, "ratio >= 0.8"),
    ("peers.put_64KiB_ops_s_vs_filer", PUT_SMALL, "puts/s", FILER, "ratio >= 0.5"),
    ("peers.get_64KiB_ops_s_1_client_vs_filer", GET_SMALL_1, "gets/s", FILER, "ratio >= 0.5"),
    ("peers.get_64KiB_ops_s_8_clients_vs_filer", GET_SMALL_8, "gets/s", FILER, "ratio >= 0.5"),
    ("peers.get_256MiB_cpu_s_per_GiB_vs_s3", CPU_GET_LARGE, "CPU-s/GiB", S3, "ratio <= 1.5"),
)

LABELS = {
    PUT_LARGE: "put {large}, MB/s",
    GET_LARGE: "get {large} to disk (fsync'd), MB/s",
    PUT_SMALL: "put {small}, ops/s, 1 client",
    GET_SMALL_1: "get {small}, ops/s, 1 client",
    GET_SMALL_8: "get {small}, ops/s, {clients} clients",
    CPU_GET_LARGE: "daemons + client CPU-s per GiB, get {large}",
}


def medians(samples: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    return {
        workload: {system: statistics.median(values) for system, values in by_system.items()}
        for workload, by_system in samples.items()
    }


def figures(median: dict[str, dict[str, float]]) -> list[Figure]:
    """Stratos's median against the peer's for each figure the issue asks for; a figure whose
    peer (or Stratos) was not measured is left out rather than guessed."""
    out = []
    for name, workload, unit, peer, target in TARGETS:
        row = median.get(workload, {})
        if STRATOS in row and row.get(peer):
            out.append(Figure.against(name, row[STRATOS], unit, row[peer], target))
    return out


def meets(figure: Figure) -> bool:
    """Whether the figure's ratio is what its target asks."""
    op, bound = figure.target.removeprefix("ratio ").split()
    assert figure.ratio is not None
    return figure.ratio >= float(bound) if op == ">=" else figure.ratio <= float(bound)


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def label(workload: str, sizes: Sizes) -> str:
    return LABELS[workload].format(
        large=_size(sizes.large), small=_size(sizes.small), clients=sizes.concurrent_clients
    )


def document(
    samples: dict[str, dict[str, list[float]]],
    sizes: Sizes,
    systems: dict[str, dict[str, Any]],
    machine: dict[str, Any],
    quick: bool,
) -> dict[str, Any]:
    """The result file: every sample and median, the ratios, and for each system its version,
    the exact command line of each daemon and how its client was driven."""
    median = medians(samples)
    return {
        "quick": quick,
        "sizes": asdict(sizes),
        "machine": machine,
        "systems": systems,
        "workloads": {
            w: {
                "label": label(w, sizes),
                "samples": samples.get(w, {}),
                "median": median.get(w, {}),
            }
            for w in WORKLOADS
        },
        "figures": [asdict(f) | {"met": meets(f)} for f in figures(median)],
    }


def write(doc: dict[str, Any], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def table(doc: dict[str, Any]) -> Table:
    present = [s for s in SYSTEMS if s in doc["systems"]]
    sizes = Sizes(**doc["sizes"])
    title = f"Stratos beside its peers (median of {sizes.repetitions}, interleaved)"
    t = Table(title=title)
    t.add_column("workload")
    for s in present:
        t.add_column(HEADINGS[s], justify="right")
    t.add_column("ratio", justify="right")
    t.add_column("target")
    by_workload = {f["name"]: f for f in doc["figures"]}
    for name, workload, *_ in TARGETS:
        median = doc["workloads"][workload]["median"]
        f = by_workload.get(name)
        ratio = "" if f is None else f"[{'green' if f['met'] else 'red'}]{f['ratio']:.2f}"
        t.add_row(
            label(workload, sizes),
            *(f"{median[s]:.1f}" if s in median else "-" for s in present),
            ratio,
            "" if f is None else f"{f['target']} vs {_peer_of(workload)}",
        )
    return t


def _peer_of(workload: str) -> str:
    return "S3" if workload == CPU_GET_LARGE else "filer"


def show(doc: dict[str, Any]) -> None:
    Console(width=max(Console().width, 150)).print(table(doc))
