"""ChainClient: the SDK's side of the STOS ledger (ConsensusService in
proto/stratos/v1/consensus.proto) — read accounts, blocks and status, send STOS and follow txs.

Any validator answers the public API, so the client takes a list of addresses and fails over to
the next one when a validator is UNAVAILABLE (down, restarting). Every other failure is the
server's sentence, through `stratos.common.errors.from_grpc`. What concerns one tx — its nonce,
its state — is asked of every validator at once, because each knows only its own mempool
(`txstatus` holds those rules).

`send` tells the truth about its tx: it returns once the tx committed; it raises the refusal
when no validator admitted it (then nothing happened); and it raises `TxPending` when the tx was
admitted but is not committed yet — it may still commit, and `tx(hash)` / `wait_tx` follow it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from stratos.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    StratosError,
    Unavailable,
    from_grpc,
)
from stratos.common.identity import Identity, address_of
from stratos.common.stos import MAX_NSTOS, format_stos, sign_tx, tx_hash
from stratos.sdk.txstatus import (
    COMMITTED,
    DROPPED,
    PENDING,
    UNKNOWN,
    NonceView,
    TxPending,
    TxStatus,
    check_tx_hash,
    decode_tx,
    next_nonce,
    pending_sentence,
    submit_order,
    summarize,
)
from stratos.sdk.wallet import DEFAULT_FEE_NSTOS, check_address, transfer_tx
from stratos.v1 import consensus_pb2, consensus_pb2_grpc, ledger_pb2

__all__ = ["ChainClient", "TxPending", "TxStatus", "decode_tx"]

COMMIT_TIMEOUT_S = 15.0  # how long `send` waits for its tx to be committed
CALL_TIMEOUT_S = 5.0  # every other call
POLL_S = 1.0  # while waiting for a commit: each validator holds a GetTx this long, at most
MAX_WAIT_S = 24 * 3600.0  # the longest wait a caller may ask for


@dataclass(frozen=True)
class AccountInfo:
    address: str
    balance_nstos: int
    nonce: int
    ozone: int
    height: int  # the committed height this answer reflects
    pending_nonce: int = 0  # the next nonce, counting txs pending in the answering mempool
    node: dict[str, Any] | None = None  # the address's node registration, if it has one

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "balance": format_stos(self.balance_nstos),
            "balance_nstos": self.balance_nstos,
            "nonce": self.nonce,
            "pending_nonce": max(self.nonce, self.pending_nonce),
            "ozone": self.ozone,
            "height": self.height,
            "node": self.node,
        }


_ROLE_NAMES = {ledger_pb2.NODE_ROLE_RESOURCE: "resource", ledger_pb2.NODE_ROLE_META: "meta"}


def node_dict(node: ledger_pb2.NodeRecord) -> dict[str, Any]:
    """A registered node as `balance --json` shows it: its deposit, and any slashing debt."""
    return {
        "role": _ROLE_NAMES.get(node.role, "unknown"),
        "deposit": format_stos(node.deposit),
        "deposit_nstos": node.deposit,
        "debt": format_stos(node.debt),
        "debt_nstos": node.debt,
        "suspended": node.suspended,
        "unbonding_until_height": node.unbonding_until_height or None,
    }


@dataclass(frozen=True)
class SendResult:
    tx_hash: str
    height: int | None  # None while not committed
    sender: str
    to: str
    amount_nstos: int
    fee_nstos: int
    nonce: int
    state: str = COMMITTED

    def to_dict(self) -> dict[str, Any]:
        return {
            "tx_hash": self.tx_hash,
            "state": self.state,
            "height": self.height,
            "from": self.sender,
            "to": self.to,
            "amount": format_stos(self.amount_nstos),
            "amount_nstos": self.amount_nstos,
            "fee": format_stos(self.fee_nstos),
            "nonce": self.nonce,
        }


class NoValidatorReached(Unavailable):
    """No validator could be connected to: a request never reached any of them."""


def _account(address: str, resp: consensus_pb2.GetAccountResponse) -> AccountInfo:
    acc = resp.account
    node = node_dict(resp.node) if resp.HasField("node") and resp.node.role else None
    return AccountInfo(
        address, acc.balance, acc.nonce, acc.ozone, resp.height, resp.pending_nonce, node
    )


class ChainClient:
    """A client of the ledger, reached through any of `addresses` (host:port of validators)."""

    def __init__(
        self,
        addresses: Sequence[str],
        names: Mapping[str, str] | None = None,
        *,
        credentials: grpc.ChannelCredentials,
    ) -> None:
        """`names`: what the user calls each address (e.g. validator-3), for sentences;
        `credentials`: the mesh's TLS."""
        if not addresses:
            raise FailedPrecondition(
                "no validator address is known; set STRATOS_CONSENSUS_ADDRESS "
                "or start the local mesh with 'stratos dev up --validators 4'"
            )
        self._addresses = list(addresses)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._first = 0  # the validator that answered last is asked first
        self._names = dict(names or {})
        self._credentials = credentials

    def name(self, address: str) -> str:
        return self._names.get(address, address)

    @property
    def addresses(self) -> list[str]:
        return list(self._addresses)

    async def __aenter__(self) -> ChainClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for ch in channels:
            await ch.close()

    def _stub(self, address: str) -> consensus_pb2_grpc.ConsensusServiceStub:
        ch = self._channels.get(address)
        if ch is None:
            from stratos.common.grpcutil import channel

            ch = self._channels[address] = channel(address, self._credentials)
        return consensus_pb2_grpc.ConsensusServiceStub(ch)

    def _unreachable(self, server_said: StratosError | None = None) -> StratosError:
        """Why no validator answered: a server's own UNAVAILABLE sentence, else which were tried."""
        if server_said is not None:
            return server_said
        n = len(self._addresses)
        if n == 1:
            return NoValidatorReached(
                f"cannot reach the validator at {self._addresses[0]}; is it running?"
            )
        return NoValidatorReached(
            f"cannot reach any of the {n} validators ({', '.join(self._addresses)}); "
            "are they running?"
        )

    async def call(
        self,
        method: str,
        request: Any,
        *,
        timeout_s: float = CALL_TIMEOUT_S,
        prefer: Sequence[str] = (),
    ) -> Any:
        """`method` on the first validator that is reachable (those in `prefer` first, in that
        order); UNAVAILABLE moves to the next."""
        n = len(self._addresses)
        rotation = [self._addresses[(self._first + k) % n] for k in range(n)]
        order = [a for a in prefer if a in rotation] + [a for a in rotation if a not in prefer]
        unreachable: StratosError | None = None  # a server's own UNAVAILABLE sentence, if any
        for address in order:
            try:
                resp = await getattr(self._stub(address), method)(request, timeout=timeout_s)
            except grpc.RpcError as err:
                if err.code() == grpc.StatusCode.UNAVAILABLE:
                    details = (err.details() or "").lower()
                    if details and "connect" not in details:
                        unreachable = from_grpc(err, peer=address)
                    continue
                raise from_grpc(err, peer=address) from None
            self._first = self._addresses.index(address)
            return resp
        raise self._unreachable(unreachable)

    async def call_each(
        self,
        method: str,
        request: Any,
        *,
        timeout_s: float = CALL_TIMEOUT_S,
        enough: Callable[[Any], bool] | None = None,
    ) -> list[tuple[str, Any | None]]:
        """`method` on every validator at once: (address, answer, or None when it gave none).
        A request a validator calls invalid is raised: every other would say the same; so is
        the failure when none answers. With `enough`, an answer it accepts ends the round: the
        others count as not answered (so a hung validator does not hold up what another
        already said)."""

        async def one(address: str) -> tuple[str, Any]:
            try:
                resp = await getattr(self._stub(address), method)(request, timeout=timeout_s)
            except grpc.RpcError as err:
                return address, from_grpc(err, peer=address)
            return address, resp

        tasks = [asyncio.ensure_future(one(a)) for a in self._addresses]
        answers: dict[str, Any] = {}
        server_said: StratosError | None = None  # a failure other than "cannot connect"
        try:
            for next_done in asyncio.as_completed(tasks):
                address, answer = await next_done
                if isinstance(answer, InvalidArgument):
                    raise answer
                if not isinstance(answer, StratosError):
                    answers[address] = answer
                    if enough is not None and enough(answer):
                        break
                elif not answer.message.startswith("cannot reach"):
                    server_said = server_said or answer
        finally:
            for t in tasks:
                t.cancel()
        if not answers:
            raise self._unreachable(server_said)
        return [(a, answers.get(a)) for a in self._addresses]

    # -- reads -------------------------------------------------------------------------------

    async def status(self) -> consensus_pb2.StatusResponse:
        return await self.call("Status", consensus_pb2.StatusRequest())

    async def account(self, address: str) -> AccountInfo:
        check_address(address)
        resp = await self.call("GetAccount", consensus_pb2.GetAccountRequest(address=address))
        return _account(address, resp)

    async def block(self, height: int = 0) -> consensus_pb2.GetBlockResponse:
        """The committed block at `height` (0 = the latest)."""
        if height < 0:
            raise InvalidArgument(f"a block height is 1 or more, not {height}")
        return await self.call("GetBlock", consensus_pb2.GetBlockRequest(height=height))

    async def nonce_views(self, address: str) -> list[NonceView]:
        """Every answering validator's committed and pending nonce of `address`."""
        check_address(address)
        answers = await self.call_each(
            "GetAccount", consensus_pb2.GetAccountRequest(address=address)
        )
        return [
            NonceView(a, r.account.nonce, r.pending_nonce, r.height)
            for a, r in answers
            if r is not None
        ]

    # -- following a tx ----------------------------------------------------------------------

    async def tx(self, hash_hex: str, *, wait_s: float = 0) -> TxStatus:
        """Where the tx is, asking every validator; with `wait_s`, each holds its answer until
        the tx commits there (or is dropped), or `wait_s` passes."""
        h = check_tx_hash(hash_hex)
        wait_ms = int(min(max(wait_s, 0), 600) * 1000)
        answers = await self.call_each(
            "GetTx",
            consensus_pb2.GetTxRequest(tx_hash=h, wait_ms=wait_ms),
            timeout_s=CALL_TIMEOUT_S + wait_ms / 1000,
            enough=lambda r: r.state == consensus_pb2.TX_STATE_COMMITTED,
        )
        return summarize(h, answers)

    async def wait_tx(
        self,
        hash_hex: str,
        timeout_s: float,
        *,
        on_progress: Callable[[TxStatus, float], None] | None = None,
    ) -> TxStatus:
        """Wait up to `timeout_s` for the tx to commit; returns its last known status, which is
        still PENDING (or UNKNOWN while the validators that held it do not answer) when the
        time ran out. A tx dropped everywhere, or unknown to every validator from the start,
        is answered at once: it will not commit by waiting."""
        if not 0 <= timeout_s <= MAX_WAIT_S:
            raise InvalidArgument(
                f"a wait is between 0 and {MAX_WAIT_S:g} seconds, not {timeout_s:g}"
            )
        loop = asyncio.get_running_loop()
        start = loop.time()
        status = await self.tx(hash_hex)
        seen = status.state == PENDING
        while True:
            left = start + timeout_s - loop.time()
            waiting = status.state == PENDING or (
                status.state == UNKNOWN and seen and status.unreachable
            )
            if not waiting or left <= 0:
                return status
            if on_progress is not None:
                on_progress(status, loop.time() - start)
            began, step = loop.time(), min(POLL_S, left)
            status = await self.tx(hash_hex, wait_s=step)
            seen = seen or status.state == PENDING
            # Validators answer an unknown tx at once: do not spin on them.
            rest = step - (loop.time() - began)
            if status.state != COMMITTED and rest > 0:
                await asyncio.sleep(rest)

    # -- send --------------------------------------------------------------------------------

    async def submit(self, raw: bytes, *, prefer: Sequence[str] = ()) -> str:
        """Hand a signed tx to a validator (those in `prefer` first); returns its hash once a
        validator admitted it (or had it already). A refusal is raised as the validator's
        sentence, and then no validator holds the tx."""
        h = tx_hash(raw)
        request = consensus_pb2.SubmitTxRequest(tx=raw)
        try:
            await self.call("SubmitTx", request, prefer=prefer)
        except AlreadyExists:
            pass  # relayed there already: it is pending
        except (InvalidArgument, FailedPrecondition, NoValidatorReached):
            raise  # refused, or never reached a validator: not admitted
        except StratosError as err:
            if err.grpc_code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise  # the mempool is full: not admitted
            # The answer was lost (a deadline, a dropped connection): was it admitted?
            try:
                status = await self.tx(h)
            except StratosError:
                status = None
            if status is None or status.state not in (PENDING, COMMITTED):
                raise type(err)(
                    f"{err}; no validator that answered holds the tx {h}, so it was most "
                    f"likely not sent (check 'stratos tx {h}' before sending again)"
                ) from None
        return h

    async def send(
        self,
        identity: Identity,
        to_address: str,
        amount_nstos: int,
        fee: int = DEFAULT_FEE_NSTOS,
        *,
        timeout_s: float = COMMIT_TIMEOUT_S,
        on_progress: Callable[[TxStatus, float], None] | None = None,
    ) -> SendResult:
        """Sign and submit a transfer with the account's next nonce (counting its pending txs),
        and wait up to `timeout_s` for it to commit (0 = do not wait).

        Returns once it committed and applied. Raises the refusal when it was not admitted or
        did not apply (nothing was transferred), and `TxPending` when it was admitted but is not
        committed yet: it may still commit; never send again on that error without checking
        `tx(err.tx_hash)`."""
        check_address(to_address)
        if not 0 <= timeout_s <= MAX_WAIT_S:
            raise InvalidArgument(
                f"a wait is between 0 and {MAX_WAIT_S:g} seconds, not {timeout_s:g}"
            )
        sender = address_of(identity.public_bytes)
        chain, views = await asyncio.gather(self.status(), self.nonce_views(sender))
        nonce = next_nonce(views)
        raw = transfer_tx(
            identity,
            chain_id=chain.chain_id,
            nonce=nonce,
            fee=fee,
            to=to_address,
            amount=amount_nstos,
        )
        sent = SendResult("", None, sender, to_address, amount_nstos, fee, nonce, PENDING)
        result, _ = await self._commit(raw, sent, views, timeout_s, on_progress, "transfer")
        return result

    async def prepay(
        self,
        identity: Identity,
        amount_nstos: int,
        fee: int = DEFAULT_FEE_NSTOS,
        *,
        timeout_s: float = COMMIT_TIMEOUT_S,
        on_progress: Callable[[TxStatus, float], None] | None = None,
    ) -> tuple[SendResult, str]:
        """Buy ozone with `amount_nstos` (PrepayOzone) and wait for the commit, as `send` does;
        returns the result and the chain's sentence (how much ozone it bought)."""
        if not 0 < amount_nstos <= MAX_NSTOS:
            raise InvalidArgument("the amount to prepay must be more than 0 STOS")
        from stratos.v1 import ledger_pb2

        return await self.submit_msg(
            identity,
            "prepay",
            fee,
            amount_nstos=amount_nstos,
            timeout_s=timeout_s,
            on_progress=on_progress,
            prepay_ozone=ledger_pb2.PrepayOzone(amount=amount_nstos),
        )

    async def submit_msg(
        self,
        identity: Identity,
        what: str,
        fee: int = DEFAULT_FEE_NSTOS,
        *,
        amount_nstos: int = 0,
        timeout_s: float = COMMIT_TIMEOUT_S,
        on_progress: Callable[[TxStatus, float], None] | None = None,
        **msg: Any,
    ) -> tuple[SendResult, str]:
        """Sign a tx carrying the one message `msg` (e.g. register_node=...) with the account's
        next nonce, submit it and wait for the commit with `send`'s rules; returns the result
        and the chain's sentence."""
        if not 0 <= timeout_s <= MAX_WAIT_S:
            raise InvalidArgument(
                f"a wait is between 0 and {MAX_WAIT_S:g} seconds, not {timeout_s:g}"
            )
        from stratos.v1 import ledger_pb2

        sender = address_of(identity.public_bytes)
        chain, views = await asyncio.gather(self.status(), self.nonce_views(sender))
        nonce = next_nonce(views)
        body = ledger_pb2.TxBody(chain_id=chain.chain_id, nonce=nonce, fee=fee, **msg)
        raw = sign_tx(identity, body)
        sent = SendResult("", None, sender, "", amount_nstos, fee, nonce, PENDING)
        return await self._commit(raw, sent, views, timeout_s, on_progress, what)

    async def _commit(
        self,
        raw: bytes,
        sent: SendResult,
        views: list[NonceView],
        timeout_s: float,
        on_progress: Callable[[TxStatus, float], None] | None,
        what: str,
    ) -> tuple[SendResult, str]:
        """Submit `raw` and wait up to `timeout_s` for its commit (the rules of `send`)."""
        h = await self.submit(raw, prefer=submit_order(views))
        sent = dataclasses.replace(sent, tx_hash=h)
        try:
            final = await self.wait_tx(h, timeout_s, on_progress=on_progress)
        except StratosError as err:  # admitted, then lost sight of: never "nothing happened"
            lost = TxStatus(h, UNKNOWN, unreachable=tuple(self._addresses))
            raise TxPending(
                f"submitted as tx {h}, but could not follow it: {err} — it may still commit; "
                f"check 'stratos tx {h}' before sending again",
                lost,
                {**sent.to_dict(), "state": UNKNOWN},
            ) from None
        if final.state == COMMITTED:
            if final.code != 0:
                raise FailedPrecondition(
                    f"the {what} {h[:16]}… was refused at height {final.height}: {final.log}"
                )
            return dataclasses.replace(sent, height=final.height, state=COMMITTED), final.log
        if final.state == DROPPED:
            raise FailedPrecondition(
                f"the {what} {h[:16]}… was dropped after block {final.height} and will not "
                f"commit: {final.log}; nothing was transferred"
            )
        from_height = max(v.height for v in views)
        sentence = pending_sentence(final, timeout_s, from_height=from_height, name=self.name)
        detail = {**sent.to_dict(), **final.to_dict(self.name), "state": final.state}
        raise TxPending(sentence, final, detail)


@dataclass(frozen=True)
class ValidatorProbe:
    """One validator process asked for its Status: the answer, or why it gave none."""

    name: str
    endpoint: str
    status: consensus_pb2.StatusResponse | None
    error: str | None = None
    address: str = ""  # the validator's account address, when known without asking it


async def probe(
    targets: Sequence[tuple[str, str]],
    *,
    credentials: grpc.ChannelCredentials,
    timeout_s: float = 2.0,
) -> list[ValidatorProbe]:
    """Ask every (name, endpoint) for Status in parallel; an unreachable one is not an error."""
    from stratos.common.grpcutil import channel

    async def one(name: str, endpoint: str) -> ValidatorProbe:
        try:
            async with channel(endpoint, credentials) as ch:
                stub = consensus_pb2_grpc.ConsensusServiceStub(ch)
                resp = await stub.Status(consensus_pb2.StatusRequest(), timeout=timeout_s)
        except grpc.RpcError as err:
            return ValidatorProbe(name, endpoint, None, str(from_grpc(err, peer=endpoint)))
        return ValidatorProbe(name, endpoint, resp, None, resp.node_address)

    return list(await asyncio.gather(*(one(n, e) for n, e in targets)))


def credit_dict(c: ledger_pb2.Credit) -> dict[str, Any]:
    """What a settled epoch paid (and slashed) one address, as `--json` shows it."""
    return {
        "address": c.address,
        "earned": format_stos(c.amount),
        "earned_nstos": c.amount,
        "debt_paid_nstos": c.debt_paid,
        "slashed_nstos": c.slashed,
    }


def block_dict(resp: consensus_pb2.GetBlockResponse) -> dict[str, Any]:
    """A GetBlockResponse as `stratos chain block --json` prints it."""
    h = resp.block.header
    results = list(resp.results.results)
    txs = []
    for i, raw in enumerate(resp.block.txs):
        tx = decode_tx(raw)
        if i < len(results):
            tx.update(code=results[i].code, log=results[i].log)
            if results[i].credits:
                tx["credits"] = [credit_dict(c) for c in results[i].credits]
        txs.append(tx)
    return {
        "height": h.height,
        "hash": resp.block_hash.hex(),
        "chain_id": h.chain_id,
        "time_unix_ms": h.time_unix_ms,
        "proposer": h.proposer,
        "prev_block_hash": h.prev_block_hash.hex(),
        "app_hash": resp.results.app_hash.hex(),
        "prev_app_hash": h.app_hash.hex(),
        "tx_root": h.tx_root.hex(),
        "txs": txs,
        "commit_round": resp.commit.round,
        "precommits": len(resp.commit.precommits),
    }


def summarize_status(probes: Sequence[ValidatorProbe]) -> dict[str, Any]:
    """`stratos chain status --json`: the chain as the most advanced validator sees it, and one
    entry per validator — `healthy`, `behind` (2+ blocks behind the best) or `down`."""
    up = [p for p in probes if p.status is not None]
    if not up:
        tried = ", ".join(
            p.endpoint if p.name == p.endpoint else f"{p.name} at {p.endpoint}" for p in probes
        )
        raise Unavailable(f"no validator answered ({tried}); are they running?")
    best = max(up, key=lambda p: p.status.height).status
    power = {v.address: v.power for v in best.validators}
    validators = []
    for p in probes:
        s = p.status
        entry: dict[str, Any] = {
            "name": p.name,
            "endpoint": p.endpoint,
            "address": p.address,
            "power": power.get(p.address),
        }
        if s is None:
            entry.update(health="down", height=None, last_block_hash=None, error=p.error)
        else:
            entry.update(
                health="healthy" if s.height + 2 > best.height else "behind",
                height=s.height,
                last_block_hash=s.last_block_hash.hex(),
                last_block_time_unix_ms=s.last_block_time_unix_ms,
                round=s.round,
                peers_connected=s.peers_connected,
                mempool_txs=s.mempool_txs,
            )
        validators.append(entry)
    return {
        "chain_id": best.chain_id,
        "height": best.height,
        "app_hash": best.app_hash.hex(),
        "last_block_hash": best.last_block_hash.hex(),
        "last_block_time_unix_ms": best.last_block_time_unix_ms,
        "validators": validators,
    }


def epoch_dict(
    status: consensus_pb2.StatusResponse, settled: consensus_pb2.GetBlockResponse | None
) -> dict[str, Any]:
    """`stratos chain epoch --json`: where Proof-of-Traffic settlement stands, and the last
    settled epoch's report as the block that settled it carries it (`settled`: that block)."""
    e = status.epochs
    doc: dict[str, Any] = {
        "height": status.height,
        "epoch_blocks": e.epoch_blocks,
        "current_epoch": e.current_epoch,
        "next_to_settle": e.next_to_settle,
        "bonded_meta_nodes": e.bonded_meta_nodes,
        "audit_slash": format_stos(e.audit_slash),  # debt a failed audit adds
        "suspend_debt_bps": e.suspend_debt_bps,  # debt / deposit that suspends a node
        "minted": format_stos(e.minted),
        "last_settled": None,
    }
    if settled is not None and e.next_to_settle > 0:
        block = block_dict(settled)
        report = next(
            (
                t
                for t in block["txs"]
                if t.get("kind") == "epoch_report"
                and t.get("epoch") == e.next_to_settle - 1
                and t.get("code") == 0
            ),
            None,
        )
        if report is not None:
            doc["last_settled"] = {
                "epoch": report["epoch"],
                "height": block["height"],
                "digest": e.last_report_digest.hex(),
                "tx": report["hash"],
                "result": report.get("log", ""),
                "signers": report["signers"],
                "traffic": report["traffic"],
                "payers": len(report["payers"]),
                "ozone": report["ozone"],
            }
    return doc


GIB = 1 << 30


def ozone_dict(
    account: AccountInfo,
    status: consensus_pb2.StatusResponse,
    last: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`stratos ozone --json`: the wallet's ozone and what traffic costs now. The price of one
    ozone is (S+P)/L nstos; 1 ozone pays for 1 byte moved at one storage node. `last`: the
    wallet's last put and get as this home noted them (`Home.last_traffic`), each priced now."""
    pool = status.ozone
    per_gib = (
        (pool.deposits + pool.prepaid) * GIB // pool.limit if pool.limit else None
    )  # nstos per GiB moved at one node
    priced = {}
    for kind in ("put", "get"):
        entry = (last or {}).get(kind)
        if isinstance(entry, dict) and isinstance(entry.get("ozone"), int):
            cost = (
                entry["ozone"] * (pool.deposits + pool.prepaid) // pool.limit
                if pool.limit
                else None
            )
            priced[f"last_{kind}"] = {
                **entry,
                "cost_now": None if cost is None else format_stos(cost),
            }
    return {
        **priced,
        "address": account.address,
        "ozone": account.ozone,
        "ozone_gib": account.ozone / GIB,
        "height": status.height,
        "price_per_gib": None if per_gib is None else format_stos(per_gib),
        "price_per_gib_nstos": per_gib,
        "put_1gib_3_copies": None if per_gib is None else format_stos(3 * per_gib),
        "pool": {"deposits": pool.deposits, "prepaid": pool.prepaid, "limit": pool.limit},
    }


def _settle_log_numbers(log: str) -> dict[str, str]:
    """The totals a settled report's result sentence states (see the ledger's epoch_report)."""
    import re

    out = {}
    for key, pattern in (
        ("traffic_reward", r"([0-9.]+) STOS traffic reward"),
        ("mined", r"([0-9.]+) STOS mined"),
        ("nodes_slashed", r"(\d+) nodes slashed"),
    ):
        m = re.search(pattern, log)
        out[key] = m.group(1) if m else None
    return out


async def settled_epochs(client: ChainClient, count: int) -> list[dict[str, Any]]:
    """The last `count` settled epochs, newest first, each as the block that settled it carries
    its report: found by scanning forward from the epoch's end, and no further than the block
    that settled the next epoch (reports settle in order), however long its quorum took."""
    status = await client.status()
    e = status.epochs
    n = e.epoch_blocks
    found: list[dict[str, Any]] = []
    upper = e.last_settled_height  # epochs settle in order: no later than the next one did
    for epoch in range(e.next_to_settle - 1, max(-1, e.next_to_settle - 1 - count), -1):
        start = (epoch + 1) * n + 1
        heights = (
            [e.last_settled_height] if epoch == e.next_to_settle - 1 else range(start, upper + 1)
        )
        for h in heights:
            block = block_dict(await client.block(h))
            report = next(
                (
                    t
                    for t in block["txs"]
                    if t.get("kind") == "epoch_report"
                    and t.get("epoch") == epoch
                    and t.get("code") == 0
                ),
                None,
            )
            if report is not None:
                found.append(
                    {
                        "epoch": epoch,
                        "height": h,
                        "bytes": report["bytes"],
                        "ozone": report["ozone"],
                        "audits_failed": report["audits_failed"],
                        "traffic": report["traffic"],
                        "credits": report.get("credits", []),
                        "signers": report["signers"],
                        **_settle_log_numbers(report.get("log", "")),
                    }
                )
                upper = h
                break
        else:
            break  # not in the blocks this validator keeps
    return found


def rewards_dict(epochs: list[dict[str, Any]]) -> dict[str, Any]:
    """`stratos rewards --json`: the settled epochs, and per address (storage nodes, validators,
    meta nodes) its bytes, share of the traffic, failed audits, what it earned and what its
    failed audits added to its debt (slashed) over them, as the ledger's results state."""
    per_node: dict[str, dict[str, int]] = {}

    def row(address: str) -> dict[str, int]:
        return per_node.setdefault(
            address,
            {"bytes": 0, "audits_failed": 0, "earned_nstos": 0, "slashed_nstos": 0, "epochs": 0},
        )

    for ep in epochs:
        for t in ep["traffic"]:
            r = row(t["node"])
            r["bytes"] += t["bytes"]
            r["audits_failed"] += t["audits_failed"]
            r["epochs"] += 1
        for c in ep.get("credits", []):  # validators and meta nodes earn without traffic
            r = row(c["address"])
            r["earned_nstos"] += c["earned_nstos"]
            r["slashed_nstos"] += c["slashed_nstos"]
    total = sum(r["bytes"] for r in per_node.values())
    nodes = [
        {
            "node": a,
            **r,
            "earned": format_stos(r["earned_nstos"]),
            "slashed": format_stos(r["slashed_nstos"]),
            "share": r["bytes"] / total if total else 0.0,
        }
        for a, r in sorted(
            per_node.items(), key=lambda kv: (-kv[1]["bytes"], -kv[1]["earned_nstos"], kv[0])
        )
    ]
    return {"epochs": epochs, "nodes": nodes}
