"""The `stratos` command, one module per room:

    app      assembles the commands below into the `stratos` app; `main` is the entry point
    files    put, get, ls, stat, rm               (MeshClient)
    mesh     health, node drain                   (the index's admin calls)
    chain    wallet …, balance, send, tx, chain … (the STOS ledger)
    dev      dev up / down / status / demo / …    (the local mesh, `localmesh`)
    shared   consoles, JSON, the async runner, quiet logs, errors → exit codes
    params   the ranges of numeric options (`within`)

Imports go one way: `app` → command modules → `shared`, `params` and the SDK; a command module
never imports another, nor `app`, nor this package's names. This file imports nothing at load,
so importing a leaf costs only that leaf (`stratos --help` must stay cheap: test_cli_startup)."""

from __future__ import annotations


def main() -> None:
    """The `stratos` console script and `python -m stratos.sdk`."""
    from stratos.sdk.cli.app import main as run_main

    run_main()
