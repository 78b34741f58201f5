"""A service's view of the STOS ledger over gRPC: status, accounts, submitting txs. Any of the
validators answers; one that is unreachable (UNAVAILABLE, DEADLINE_EXCEEDED) is skipped for the
next, and the one that answered is asked first next time. Used by the incentive service (it
settles epochs) and the index (it checks payers' ozone before it signs tickets)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import grpc

from stratos.common import grpcutil
from stratos.common.errors import StratosError, Unavailable, from_grpc
from stratos.v1 import consensus_pb2, consensus_pb2_grpc

CALL_TIMEOUT_S = 10.0
# A validator that was down when a channel first tried it (the index starts before the
# validators) is tried again within a second, not after gRPC's default backoff of up to two
# minutes, during which every call would fail at once; a call waits that long for it.
RECONNECT_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
)
READY_WAIT_S = 3.0


class Chain:
    def __init__(self, addresses: Sequence[str], credentials: grpc.ChannelCredentials) -> None:
        self._addresses = list(addresses)
        self._credentials = credentials
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._first = 0

    def _stub(self, address: str) -> consensus_pb2_grpc.ConsensusServiceStub:
        ch = self._channels.get(address)
        if ch is None:
            ch = self._channels[address] = grpcutil.channel(
                address, self._credentials, RECONNECT_OPTIONS
            )
        return consensus_pb2_grpc.ConsensusServiceStub(ch)

    async def _call(self, method: str, request):
        last: StratosError | None = None
        n = len(self._addresses)
        for i in range(n):
            at = (self._first + i) % n
            address = self._addresses[at]
            try:
                resp = await self._once(address, method, request)
            except grpc.RpcError as err:
                last = from_grpc(err, peer=address)
                if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    continue
                raise last from None
            self._first = at
            return resp
        raise last or Unavailable("no validator address is configured")

    async def _once(self, address: str, method: str, request):
        """One call: waits up to READY_WAIT_S for a channel that is (re)connecting."""
        call = getattr(self._stub(address), method)
        ch = self._channels[address]
        if ch.get_state(try_to_connect=True) != grpc.ChannelConnectivity.READY:
            # not ready in time: the call below fails with UNAVAILABLE and the next validator
            # is asked
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ch.channel_ready(), READY_WAIT_S)
        return await call(request, timeout=CALL_TIMEOUT_S)

    async def status(self) -> consensus_pb2.StatusResponse:
        return await self._call("Status", consensus_pb2.StatusRequest())

    async def account(self, address: str) -> consensus_pb2.GetAccountResponse:
        return await self._call("GetAccount", consensus_pb2.GetAccountRequest(address=address))

    async def submit(self, raw: bytes) -> consensus_pb2.SubmitTxResponse:
        return await self._call("SubmitTx", consensus_pb2.SubmitTxRequest(tx=raw))

    async def tx(self, hash_hex: str, wait_ms: int = 0) -> consensus_pb2.GetTxResponse:
        return await self._call(
            "GetTx", consensus_pb2.GetTxRequest(tx_hash=hash_hex, wait_ms=wait_ms)
        )

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for ch in channels:
            await ch.close()
