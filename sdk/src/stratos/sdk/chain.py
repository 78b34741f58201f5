"""ChainClient: the SDK's side of the STOS ledger (ConsensusService in
proto/stratos/v1/consensus.proto) — read accounts, blocks and status, and send STOS.

Any validator answers the public API, so the client takes a list of addresses and fails over to
the next one when a validator is UNAVAILABLE (down, restarting). Every other failure is the
server's sentence, through `stratos.common.errors.from_grpc`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from stratos.common.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    StratosError,
    Unavailable,
    from_grpc,
)
from stratos.common.identity import Identity, address_of
from stratos.common.stos import format_stos, tx_hash
from stratos.sdk.wallet import DEFAULT_FEE_NSTOS, check_address, transfer_tx
from stratos.v1 import consensus_pb2, consensus_pb2_grpc, ledger_pb2

COMMIT_TIMEOUT_S = 15.0  # how long `send` waits for its tx to be committed
CALL_TIMEOUT_S = 5.0  # every other call
_SLACK_S = 3.0  # the client deadline beyond the server's own commit timeout


@dataclass(frozen=True)
class AccountInfo:
    address: str
    balance_nstos: int
    nonce: int
    ozone: int
    height: int  # the committed height this answer reflects

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "balance": format_stos(self.balance_nstos),
            "balance_nstos": self.balance_nstos,
            "nonce": self.nonce,
            "ozone": self.ozone,
            "height": self.height,
        }


@dataclass(frozen=True)
class SendResult:
    tx_hash: str
    height: int
    sender: str
    to: str
    amount_nstos: int
    fee_nstos: int
    nonce: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "tx_hash": self.tx_hash,
            "height": self.height,
            "from": self.sender,
            "to": self.to,
            "amount": format_stos(self.amount_nstos),
            "amount_nstos": self.amount_nstos,
            "fee": format_stos(self.fee_nstos),
            "nonce": self.nonce,
        }


class ChainClient:
    """A client of the ledger, reached through any of `addresses` (host:port of validators)."""

    def __init__(self, addresses: Sequence[str]) -> None:
        if not addresses:
            raise FailedPrecondition(
                "no validator address is known; set STRATOS_CONSENSUS_ADDRESS "
                "or start the local mesh with 'stratos dev up --validators 4'"
            )
        self._addresses = list(addresses)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._first = 0  # the validator that answered last is asked first

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

            ch = self._channels[address] = channel(address)
        return consensus_pb2_grpc.ConsensusServiceStub(ch)

    async def call(self, method: str, request: Any, *, timeout_s: float = CALL_TIMEOUT_S) -> Any:
        """`method` on the first validator that is reachable; UNAVAILABLE moves to the next."""
        n = len(self._addresses)
        unreachable: StratosError | None = None  # a server's own UNAVAILABLE sentence, if any
        for k in range(n):
            i = (self._first + k) % n
            address = self._addresses[i]
            try:
                resp = await getattr(self._stub(address), method)(request, timeout=timeout_s)
            except grpc.RpcError as err:
                if err.code() == grpc.StatusCode.UNAVAILABLE:
                    details = (err.details() or "").lower()
                    if details and "connect" not in details:
                        unreachable = from_grpc(err, peer=address)
                    continue
                raise from_grpc(err, peer=address) from None
            self._first = i
            return resp
        if unreachable is not None:
            raise unreachable
        if n == 1:
            raise Unavailable(f"cannot reach the validator at {self._addresses[0]}; is it running?")
        raise Unavailable(
            f"cannot reach any of the {n} validators ({', '.join(self._addresses)}); "
            "are they running?"
        )

    # -- reads -------------------------------------------------------------------------------

    async def status(self) -> consensus_pb2.StatusResponse:
        return await self.call("Status", consensus_pb2.StatusRequest())

    async def account(self, address: str) -> AccountInfo:
        check_address(address)
        resp = await self.call("GetAccount", consensus_pb2.GetAccountRequest(address=address))
        acc = resp.account
        return AccountInfo(address, acc.balance, acc.nonce, acc.ozone, resp.height)

    async def block(self, height: int = 0) -> consensus_pb2.GetBlockResponse:
        """The committed block at `height` (0 = the latest)."""
        if height < 0:
            raise InvalidArgument(f"a block height is 1 or more, not {height}")
        return await self.call("GetBlock", consensus_pb2.GetBlockRequest(height=height))

    # -- send --------------------------------------------------------------------------------

    async def send(
        self,
        identity: Identity,
        to_address: str,
        amount_nstos: int,
        fee: int = DEFAULT_FEE_NSTOS,
        *,
        timeout_s: float = COMMIT_TIMEOUT_S,
    ) -> SendResult:
        """Sign and submit a transfer, and return once it is committed in a block."""
        check_address(to_address)
        sender = address_of(identity.public_bytes)
        status = await self.status()
        account = await self.account(sender)
        raw = transfer_tx(
            identity,
            chain_id=status.chain_id,
            nonce=account.nonce,
            fee=fee,
            to=to_address,
            amount=amount_nstos,
        )
        digest = tx_hash(raw)
        request = consensus_pb2.SubmitTxRequest(
            tx=raw, wait_for_commit=True, timeout_ms=int(timeout_s * 1000)
        )
        try:
            resp = await self.call("SubmitTx", request, timeout_s=timeout_s + _SLACK_S)
        except DeadlineExceeded as err:
            if "not committed" in str(err):
                raise
            raise DeadlineExceeded(
                f"the transfer {digest[:16]}… was not committed within {timeout_s:.0f}s; "
                "are enough validators running? (check 'stratos chain status')"
            ) from None
        result = resp.result
        if result.code != 0:
            raise FailedPrecondition(
                f"the transfer {digest[:16]}… was refused at height {resp.height}: {result.log}"
            )
        return SendResult(
            tx_hash=resp.tx_hash or digest,
            height=resp.height,
            sender=sender,
            to=to_address,
            amount_nstos=amount_nstos,
            fee_nstos=fee,
            nonce=account.nonce,
        )


@dataclass(frozen=True)
class ValidatorProbe:
    """One validator process asked for its Status: the answer, or why it gave none."""

    name: str
    endpoint: str
    status: consensus_pb2.StatusResponse | None
    error: str | None = None
    address: str = ""  # the validator's account address, when known without asking it


async def probe(
    targets: Sequence[tuple[str, str]], *, timeout_s: float = 2.0
) -> list[ValidatorProbe]:
    """Ask every (name, endpoint) for Status in parallel; an unreachable one is not an error."""
    from stratos.common.grpcutil import channel

    async def one(name: str, endpoint: str) -> ValidatorProbe:
        try:
            async with channel(endpoint) as ch:
                stub = consensus_pb2_grpc.ConsensusServiceStub(ch)
                resp = await stub.Status(consensus_pb2.StatusRequest(), timeout=timeout_s)
        except grpc.RpcError as err:
            return ValidatorProbe(name, endpoint, None, str(from_grpc(err, peer=endpoint)))
        return ValidatorProbe(name, endpoint, resp, None, resp.node_address)

    return list(await asyncio.gather(*(one(n, e) for n, e in targets)))


def decode_tx(raw: bytes) -> dict[str, Any]:
    """What a block's tx says, for display; a tx that does not decode shows as such."""
    from google.protobuf.message import DecodeError

    out: dict[str, Any] = {"hash": tx_hash(raw), "bytes": len(raw)}
    tx, body = ledger_pb2.Tx(), ledger_pb2.TxBody()
    try:
        tx.ParseFromString(raw)
        body.ParseFromString(tx.body)
    except DecodeError:
        out["kind"] = "malformed"
        return out
    kind = body.WhichOneof("msg") or "none"
    out.update(
        sender=address_of(tx.public_key) if tx.public_key else "",
        nonce=body.nonce,
        fee=format_stos(body.fee),
        kind=kind,
    )
    if kind == "transfer":
        out.update(to=body.transfer.to, amount=format_stos(body.transfer.amount))
    elif kind == "register_node":
        out.update(
            role=ledger_pb2.NodeRole.Name(body.register_node.role)
            .removeprefix("NODE_ROLE_")
            .lower(),
            deposit=format_stos(body.register_node.deposit),
        )
    elif kind == "prepay_ozone":
        out.update(amount=format_stos(body.prepay_ozone.amount))
    return out


def block_dict(resp: consensus_pb2.GetBlockResponse) -> dict[str, Any]:
    """A GetBlockResponse as `stratos chain block --json` prints it."""
    h = resp.block.header
    results = list(resp.results.results)
    txs = []
    for i, raw in enumerate(resp.block.txs):
        tx = decode_tx(raw)
        if i < len(results):
            tx.update(code=results[i].code, log=results[i].log)
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
