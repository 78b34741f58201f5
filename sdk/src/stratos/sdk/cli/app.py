"""The `stratos` app: the command modules' typer apps assembled in the order `stratos --help`
lists them, and the entry point. Every command lives in a command module as a
`@<typer>.command()`; this module only adds those typers (`add_typer`, with a name for a
command group, without one for top-level commands), so the whole CLI can be read here.

Help is click's plain text (`rich_markup_mode=None`): typer's rich help costs another 0.15 s of
CPU to import and draw, and `stratos --help` must answer in a fraction of a second."""

from __future__ import annotations

import sys

import typer

from stratos.common.memory import keep_buffers_in_heap
from stratos.sdk.cli import chain, dev, files, mesh, shared

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


app.add_typer(files.app)  # put, get, ls, stat, rm
app.add_typer(mesh.app)  # health
app.add_typer(chain.app)  # balance, send, tx
app.add_typer(dev.app, name="dev")
app.add_typer(mesh.node_app, name="node")
app.add_typer(chain.wallet_app, name="wallet")
app.add_typer(chain.chain_app, name="chain")
app.add_typer(chain.ozone_app, name="ozone")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` (default: the process's) and return its exit code."""
    return shared.run(app, argv)


def main() -> None:
    keep_buffers_in_heap()
    sys.exit(run())
