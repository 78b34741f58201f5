"""Benchmark figures: each with the bound measured in the same run and the ratio to it, written
to bench/results/latest.json and shown as a table."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results" / "latest.json"


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    bound: float | None  # the reference measured in the same run (or a fixed target)
    ratio: float | None  # value / bound
    target: str = ""  # what the issue asks of the ratio or value

    @classmethod
    def against(cls, name: str, value: float, unit: str, bound: float, target: str) -> Figure:
        return cls(name, round(value, 3), unit, round(bound, 3), round(value / bound, 3), target)


def write(figures: list[Figure], path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(f) for f in figures], indent=2) + "\n")


def show(figures: list[Figure]) -> None:
    table = Table(title="Stratos Mesh benchmarks (bounds measured in this run)")
    for col in ("figure", "value", "unit", "bound", "ratio", "target"):
        table.add_column(col, justify="right" if col in ("value", "bound", "ratio") else "left")
    for f in figures:
        table.add_row(
            f.name,
            f"{f.value:.2f}",
            f.unit,
            "" if f.bound is None else f"{f.bound:.2f}",
            "" if f.ratio is None else f"{f.ratio:.2f}",
            f.target,
        )
    Console().print(table)
