"""`stratos wallet …`, `stratos balance`, `stratos send`, `stratos tx` and `stratos chain …`: the
STOS ledger from the command line. Thin commands over `wallet` (keys, amounts, signing), `chain`
(the client of the validators) and `render` (the tables). Every argument is checked before
anything is contacted, and errors reach `shared.run`, which prints them as one sentence.

A tx that was submitted but is not committed is not an error: `send` and `tx` say so and exit
with EXIT_PENDING (3), so a script can tell "nothing happened" (1) from "may still happen" (3).

Validators are found through STRATOS_CONSENSUS_ADDRESS (comma-separated host:port) or, without
it, the local mesh's validator processes in STRATOS_HOME/run/mesh.json."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import typer

from stratos.common import env
from stratos.common.errors import FailedPrecondition, InvalidArgument, NotFound
from stratos.common.stos import format_stos, parse_stos
from stratos.sdk import lazy
from stratos.sdk.cli.params import MAX_UINT64, MAX_WAIT_S, within
from stratos.sdk.cli.shared import EXIT_PENDING, err, node_app, out, print_json, run_async
from stratos.sdk.home import Home
from stratos.sdk.wallet import DEFAULT_FEE_NSTOS, DEFAULT_WALLET, Wallets, check_address

render = lazy.module("stratos.sdk.render")

app = typer.Typer()  # top-level commands: balance, send, tx
wallet_app = typer.Typer(
    name="wallet",
    help="Your keys (wallets) under STRATOS_HOME/keys.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
ozone_app = typer.Typer(
    name="ozone",
    help="Ozone, what traffic is paid with: 1 ozone = 1 byte moved at one storage node.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
chain_app = typer.Typer(
    name="chain",
    help="The STOS ledger: its validators and blocks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def wallets(home: Home) -> Wallets:
    return Wallets(home.keys_dir)


# -- finding the validators ---------------------------------------------------------------------


def validator_targets(home: Home) -> list[tuple[str, str]]:
    """(name, host:port) of every validator to ask: STRATOS_CONSENSUS_ADDRESS, else the local
    mesh's validators — a local chain whose validators are all stopped is an error saying so."""
    if given := env.addresses("STRATOS_CONSENSUS_ADDRESS"):
        return [(a, a) for a in given]
    targets = home.validator_processes()
    from stratos.sdk import localmesh

    records = {r.name: r for r in localmesh.load(home) or []}
    if not any(localmesh.is_running(records[n]) for n, _ in targets if n in records):
        raise FailedPrecondition(
            f"no validator of the local mesh under {home.root} is running; start them with "
            "'stratos dev up' (or 'stratos dev start validator-1')"
        )
    return targets


def with_chain(home: Home, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `await work(client)` against the validators and close the client afterwards."""
    from stratos.sdk.chain import ChainClient
    from stratos.sdk.meshtls import client_tls

    async def go() -> Any:
        targets = validator_targets(home)
        addresses = [addr for _, addr in targets]
        names = {addr: name for name, addr in targets}
        credentials = client_tls(home).channel_credentials()
        async with ChainClient(addresses, names, credentials=credentials) as client:
            return await work(client)

    return run_async(go)


def _validator_address(home: Home, name: str) -> str:
    """A local validator's account address from its key file ('' when it is not known)."""
    from stratos.common.identity import address_of, load_or_create

    key = home.run_dir / name / "validator.pem"
    if env.addresses("STRATOS_CONSENSUS_ADDRESS") or not key.exists():
        return ""
    try:
        return address_of(load_or_create(key).public_bytes)
    except Exception:
        return ""


# -- wallet -------------------------------------------------------------------------------------


@wallet_app.command("new")
def wallet_new(
    name: str = typer.Argument(DEFAULT_WALLET, help="A name: 1-32 letters, digits, '_' or '-'."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a new key; prints its address."""
    info = wallets(Home.from_env()).new(name)
    if as_json:
        print_json(info.to_dict())
        return
    err.print(f"created wallet {info.name}")
    print(info.address)


@wallet_app.command("list")
def wallet_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every wallet with its address."""
    items = [w.to_dict() for w in wallets(Home.from_env()).list()]
    if as_json:
        print_json(items)
    elif not items:
        err.print("no wallets yet; create one with 'stratos wallet new [NAME]'")
    else:
        out.print(render.wallets_table(items))


@wallet_app.command("show")
def wallet_show(
    name: str = typer.Argument(DEFAULT_WALLET, help="The wallet's name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A wallet's address and public key."""
    info = wallets(Home.from_env()).show(name)
    if as_json:
        print_json(info.to_dict())
        return
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("name", info.name)
    grid.add_row("address", info.address)
    grid.add_row("public key", info.public_key)
    out.print(grid)


# -- balance and send ---------------------------------------------------------------------------


@app.command("balance")
def balance(
    address: str | None = typer.Argument(
        None, metavar="[ADDRESS]", help="An address (default: your default wallet's)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """An account's balance in STOS (and its nonce)."""
    home = Home.from_env()
    addr = check_address(address) if address else wallets(home).show().address
    acc = with_chain(home, lambda c: c.account(addr))
    if as_json:
        print_json(acc.to_dict())
        return
    out.print(
        f"[bold]{format_stos(acc.balance_nstos)} STOS[/]  {acc.address}  "
        f"[dim](nonce {acc.nonce}, at height {acc.height})[/]",
        highlight=False,
    )
    if acc.node is not None:
        n = acc.node
        state = "suspended" if n["suspended"] else "bonded"
        if n["unbonding_until_height"]:
            state = f"unbonding until height {n['unbonding_until_height']}"
        debt = f", debt {n['debt']} STOS" if n["debt_nstos"] else ""
        out.print(f"{n['role']} node: {n['deposit']} STOS deposit, {state}{debt}", highlight=False)


def _exit_if_pending(res: Any, as_json: bool) -> None:
    """A tx submitted but not committed in time: say so and exit 3 (it may still commit)."""
    from stratos.sdk.chain import TxPending

    if isinstance(res, TxPending):
        if as_json:
            print_json(res.detail)
        else:
            print(res.message, file=sys.stderr)
            print(f"tx {res.tx_hash}")
        raise typer.Exit(EXIT_PENDING)


def _print_applied(res: tuple[Any, str], as_json: bool) -> None:
    """A committed tx's result: the chain's sentence, its height and its hash."""
    result, sentence = res
    if as_json:
        print_json({**result.to_dict(), "result": sentence})
        return
    print(f"{sentence}; committed at height {result.height}")
    print(f"tx {result.tx_hash}")


def _progress(spinner: Any, verb: str, name: Callable[[str], str]) -> Callable[[Any, float], None]:
    """Keep the spinner's line saying where the tx is while waiting for its commit."""

    def show(status: Any, elapsed: float) -> None:
        where = ", ".join(name(a) for a in status.pending_on) or "no validator that answers"
        spinner.update(
            f"{verb} tx {status.tx_hash[:16]}… — pending on {where}; "
            f"chain at height {status.latest_height}; {elapsed:.0f} s"
        )

    return show


@app.command("send")
def send(
    address: str = typer.Argument(..., metavar="ADDRESS", help="Who receives the STOS."),
    amount: str = typer.Argument(..., metavar="AMOUNT", help="STOS to send, e.g. 12.5"),
    from_name: str = typer.Option(DEFAULT_WALLET, "--from", help="The wallet that pays."),
    fee: str = typer.Option(
        format_stos(DEFAULT_FEE_NSTOS), "--fee", help="The fee in STOS (at least the chain's)."
    ),
    timeout: float = typer.Option(
        15.0,
        "--timeout",
        metavar="SECONDS",
        callback=within(0.0, MAX_WAIT_S),
        help="How long to wait for the commit (0 = submit and return at once).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Send STOS and wait until the transfer is committed; prints its height and tx hash.

    The nonce counts your transfers still pending, so sends may follow each other at once.

    Exit codes: 0 committed; 1 refused or failed, and nothing was transferred; 3 submitted as
    a tx but not committed yet: it may still commit, so follow it with 'stratos tx HASH --wait'
    rather than sending again (with --json, "state" is "pending").
    """
    from stratos.sdk.chain import TxPending

    to = check_address(address.strip())
    nstos = parse_stos(amount)
    if nstos == 0:
        raise InvalidArgument("the amount to send must be more than 0 STOS")
    fee_nstos = parse_stos(fee, what="fee")
    wait_s = timeout
    home = Home.from_env()
    identity = wallets(home).identity(from_name)
    with err.status(f"sending {format_stos(nstos)} STOS and waiting for the commit…") as spin:

        async def work(c: Any) -> Any:
            show = _progress(spin, "waiting for the commit of", c.name)
            try:
                return await c.send(
                    identity, to, nstos, fee_nstos, timeout_s=wait_s, on_progress=show
                )
            except TxPending as pending:
                return pending

        res = with_chain(home, work)
    _exit_if_pending(res, as_json)
    if as_json:
        print_json(res.to_dict())
        return
    print(f"sent {format_stos(nstos)} STOS to {to}; committed at height {res.height}")
    print(f"tx {res.tx_hash}")


@app.command("tx")
def tx(
    tx_hash: str = typer.Argument(
        ..., metavar="HASH", help="A tx hash (64 hex characters), as 'stratos send' prints it."
    ),
    wait: bool = typer.Option(False, "--wait", help="Wait until the tx commits."),
    timeout: float = typer.Option(
        60.0,
        "--timeout",
        metavar="SECONDS",
        callback=within(0.0, MAX_WAIT_S),
        help="With --wait: how long to wait at most.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Where a tx is: committed at a height with its result, pending in which validators'
    mempools, dropped (it no longer applies), or unknown.

    Exit codes: 0 committed and applied; 1 unknown, dropped, refused in its block, or an
    error; 3 pending: not committed yet (with --wait: not within --timeout).
    """
    from stratos.sdk.txstatus import PENDING, UNKNOWN, check_tx_hash

    h = check_tx_hash(tx_hash)
    wait_s = timeout if wait else 0.0
    home = Home.from_env()

    def follow(spin: Any) -> Any:
        async def work(c: Any) -> Any:
            if spin is None:
                status = await c.tx(h)
            else:
                show = _progress(spin, "waiting for", c.name)
                status = await c.wait_tx(h, wait_s, on_progress=show)
            return status, status.to_dict(c.name)

        return with_chain(home, work)

    if wait:
        with err.status(f"waiting for tx {h[:16]}…") as spin:
            status, doc = follow(spin)
    else:
        status, doc = follow(None)
    if as_json:
        print_json(doc)
    elif status.state == UNKNOWN:
        silent = len(status.unreachable)
        raise NotFound(
            f"no validator knows the tx {h}: it was never submitted, or it left the mempools "
            "without committing (a restarted validator forgets its mempool)"
            + (
                f"; {silent} of {silent + len(status.answered)} validators did not answer"
                if silent
                else ""
            )
        )
    else:
        out.print(render.tx_view(doc), highlight=False)
    if not status.applied:
        raise typer.Exit(EXIT_PENDING if status.state == PENDING else 1)


# -- rewards ------------------------------------------------------------------------------------


@app.command("rewards")
def rewards(
    epochs: int = typer.Option(
        5, "--epochs", callback=within(1, 100), help="How many settled epochs to show (1-100)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Proof-of-Traffic rewards: per settled epoch, the bytes the nodes served, the traffic
    reward and the mined reward paid, failed audits and slashing; per node, its bytes and
    share over those epochs."""
    from stratos.sdk.chain import rewards_dict, settled_epochs

    doc = rewards_dict(with_chain(Home.from_env(), lambda c: settled_epochs(c, epochs)))
    if as_json:
        print_json(doc)
    else:
        out.print(render.rewards_view(doc))


# -- ozone --------------------------------------------------------------------------------------


@ozone_app.callback()
def ozone(
    ctx: typer.Context,
    from_name: str = typer.Option(DEFAULT_WALLET, "--from", help="Whose ozone (a wallet name)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Your ozone, the price of traffic now, and what a 1 GiB put costs."""
    if ctx.invoked_subcommand is not None:
        return
    from stratos.sdk.chain import ozone_dict

    home = Home.from_env()
    address = wallets(home).show(from_name).address

    async def work(c: Any) -> Any:
        return ozone_dict(await c.account(address), await c.status(), home.last_traffic(address))

    doc = with_chain(home, work)
    if as_json:
        print_json(doc)
        return
    out.print(
        f"[bold]{doc['ozone']} ozone[/] ({doc['ozone_gib']:.1f} GiB of traffic)  {address}",
        highlight=False,
    )
    if doc["price_per_gib"] is not None:
        out.print(
            f"1 GiB moved costs {doc['price_per_gib']} STOS now; a 1 GiB put with 3 copies, "
            f"{doc['put_1gib_3_copies']} STOS  [dim](at height {doc['height']})[/]",
            highlight=False,
        )
    for kind in ("put", "get"):
        if (last := doc.get(f"last_{kind}")) is not None:
            out.print(render.last_traffic_line(kind, last), highlight=False, soft_wrap=True)


@ozone_app.command("buy")
def ozone_buy(
    amount: str = typer.Argument(..., metavar="AMOUNT", help="STOS to prepay, e.g. 25"),
    from_name: str = typer.Option(DEFAULT_WALLET, "--from", help="The wallet that pays."),
    fee: str = typer.Option(
        format_stos(DEFAULT_FEE_NSTOS), "--fee", help="The fee in STOS (at least the chain's)."
    ),
    timeout: float = typer.Option(
        15.0,
        "--timeout",
        metavar="SECONDS",
        callback=within(0.0, MAX_WAIT_S),
        help="How long to wait for the commit.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Prepay STOS for ozone at the constant-product price; waits for the commit.

    Exit codes as for 'send': 0 bought; 1 refused, nothing spent; 3 submitted, not committed yet.
    """
    from stratos.sdk.chain import TxPending

    nstos = parse_stos(amount)
    if nstos == 0:
        raise InvalidArgument("the amount to prepay must be more than 0 STOS")
    fee_nstos = parse_stos(fee, what="fee")
    home = Home.from_env()
    identity = wallets(home).identity(from_name)
    with err.status(f"prepaying {format_stos(nstos)} STOS for ozone…") as spin:

        async def work(c: Any) -> Any:
            show = _progress(spin, "waiting for the commit of", c.name)
            try:
                return await c.prepay(
                    identity, nstos, fee_nstos, timeout_s=timeout, on_progress=show
                )
            except TxPending as pending:
                return pending

        res = with_chain(home, work)
    _exit_if_pending(res, as_json)
    _print_applied(res, as_json)


# -- chain --------------------------------------------------------------------------------------


@chain_app.command("status")
def chain_status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Height, app hash and last block time, and each validator's height and health."""
    from stratos.sdk.chain import probe, summarize_status
    from stratos.sdk.meshtls import client_tls

    home = Home.from_env()
    targets = validator_targets(home)
    credentials = client_tls(home).channel_credentials()
    probes = run_async(lambda: probe(targets, credentials=credentials))
    probes = [
        p if p.address else dataclasses.replace(p, address=_validator_address(home, p.name))
        for p in probes
    ]
    doc = summarize_status(probes)
    if as_json:
        print_json(doc)
    else:
        out.print(render.chain_status_view(doc))


@chain_app.command("epoch")
def chain_epoch(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Proof-of-Traffic: the current epoch, the last settled one with its report (bytes each
    node served, failed audits) and the meta nodes that signed it."""
    from stratos.sdk.chain import epoch_dict

    async def work(c: Any) -> Any:
        status = await c.status()
        h = status.epochs.last_settled_height
        return epoch_dict(status, await c.block(h) if h else None)

    doc = with_chain(Home.from_env(), work)
    if as_json:
        print_json(doc)
    else:
        out.print(render.epoch_view(doc))


@chain_app.command("block")
def chain_block(
    height: int = typer.Argument(
        ..., callback=within(0, MAX_UINT64), help="The block height (0 = the latest)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One committed block: header, txs and their results."""
    from stratos.sdk.chain import block_dict

    doc = block_dict(with_chain(Home.from_env(), lambda c: c.block(height)))
    if as_json:
        print_json(doc)
    else:
        out.print(render.block_view(doc))


# -- the node's standing on the ledger ------------------------------------------------------------


def _chain_msg(wallet: str, what: str, timeout: float, as_json: bool, **msg: Any) -> None:
    """Sign `msg` with `wallet`'s key, submit it and wait for the commit; print the result."""
    from stratos.sdk.chain import TxPending

    home = Home.from_env()
    identity = wallets(home).identity(wallet)

    async def work(c: Any) -> Any:
        try:
            return await c.submit_msg(identity, what, timeout_s=timeout, **msg)
        except TxPending as pending:
            return pending

    with err.status(f"submitting the {what} and waiting for the commit…"):
        res = with_chain(home, work)
    _exit_if_pending(res, as_json)
    _print_applied(res, as_json)


@node_app.command("register")
def node_register(
    role: str = typer.Option(..., "--role", help="resource (stores data) or meta (signs reports)."),
    deposit: str = typer.Option(
        ..., "--deposit", help="STOS to lock, at least the role's minimum."
    ),
    wallet: str = typer.Option("default", "--from", help="The node's wallet (its identity key)."),
    timeout: float = typer.Option(15.0, "--timeout", callback=within(0.0, MAX_WAIT_S)),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Register a wallet's address as a node on the ledger, locking its deposit: a resource
    node's deposit backs the ozone pool and earns it mining rewards; a meta node may sign epoch
    reports. Exit codes as for 'send'."""
    from stratos.v1 import ledger_pb2

    roles = {"resource": ledger_pb2.NODE_ROLE_RESOURCE, "meta": ledger_pb2.NODE_ROLE_META}
    if role not in roles:
        raise InvalidArgument(f"--role must be resource or meta, not {role!r}")
    nstos = parse_stos(deposit, what="deposit")
    _chain_msg(
        wallet,
        "registration",
        timeout,
        as_json,
        register_node=ledger_pb2.RegisterNode(role=roles[role], deposit=nstos),
    )


@node_app.command("unbond")
def node_unbond(
    wallet: str = typer.Option("default", "--from", help="The node's wallet."),
    timeout: float = typer.Option(15.0, "--timeout", callback=within(0.0, MAX_WAIT_S)),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Start unbonding a wallet's node: its deposit comes back after the chain's unbonding
    delay, less any slashing debt rewards have not paid. Exit codes as for 'send'."""
    from stratos.v1 import ledger_pb2

    _chain_msg(wallet, "unbonding", timeout, as_json, unbond=ledger_pb2.Unbond())
