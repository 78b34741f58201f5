"""Numbers on the command line: every integer or float a command takes is given the range it can
act on (`within`), and a value outside it is refused while the command line is parsed — one
sentence naming the parameter and the range, like any other bad input (`error: --storage-nodes
must be between 1 and 64, not 0`, exit 1) — rather than overflowing a protobuf field deep in the
command ("internal error: ValueError: Value out of range") or waiting forever on `--wait nan`
(issue 9).

    storage_nodes: int = typer.Option(3, "--storage-nodes", callback=within(1, 64))

The limits the commands share live here, beside the check. A limit the SDK itself enforces (a
put's replicas: `stratos.sdk.put_options`) is not checked again here: the command translates
the SDK's error into the same sentence."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer

from stratos.common.errors import InvalidArgument

N = TypeVar("N", int, float)

MAX_UINT64 = 2**64 - 1  # a block height travels as uint64
MAX_WAIT_S = 86_400.0  # a day: anything longer is a mistake, not a plan
MAX_LOG_LINES = 100_000


def within(lo: N, hi: N) -> Callable[[typer.CallbackParam, N | None], N | None]:
    """A typer callback refusing values outside [lo, hi] (NaN included) with one sentence."""

    def check(param: typer.CallbackParam, value: N | None) -> N | None:
        if value is not None and not lo <= value <= hi:  # NaN compares false, so it fails too
            raise InvalidArgument(
                f"{_label(param)} must be between {_num(lo)} and {_num(hi)}, not {value}"
            )
        return value

    return check


def _label(param: typer.CallbackParam) -> str:
    """--flag for an option, the METAVAR for an argument: what the user typed it as."""
    if param.param_type_name == "argument":
        return (param.metavar or param.name or "").upper()
    return next((o for o in param.opts if o.startswith("--")), param.opts[0])


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
