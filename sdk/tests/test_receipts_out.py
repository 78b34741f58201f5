"""The SDK's receipts: batched per node, signed once, handed over again when the node was away,
and not signed at all for a node whose mesh keeps none."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from stratos.common import receipts, tickets
from stratos.common.identity import Identity, verify
from stratos.sdk import transfer
from stratos.sdk.receipts_out import ReceiptSender
from stratos.v1 import receipt_pb2, ticket_pb2

SERVICE = "stratos.v1.StorageService"
PUT = ticket_pb2.TICKET_ACTION_PUT
META, ALICE = Identity.generate(), Identity.generate()
CHUNKS = [f"{i:064x}" for i in range(6)]


class Node:
    """SubmitReceipts only; answers each call with the next of `answers` (then OK)."""

    def __init__(self, answers=()) -> None:
        self.answers = list(answers)
        self.calls: list[receipt_pb2.SubmitReceiptsRequest] = []

    async def submit(self, request, context):
        self.calls.append(request)
        if self.answers:
            await context.abort(self.answers.pop(0), "not now")
        return receipt_pb2.SubmitReceiptsResponse(accepted=len(request.receipts))


async def start(node: Node):
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    "SubmitReceipts": grpc.unary_unary_rpc_method_handler(
                        node.submit,
                        request_deserializer=receipt_pb2.SubmitReceiptsRequest.FromString,
                        response_serializer=receipt_pb2.SubmitReceiptsResponse.SerializeToString,
                    )
                },
            ),
        )
    )
    port = server.add_secure_port("127.0.0.1:0", grpc.local_server_credentials())
    await server.start()
    return server, f"127.0.0.1:{port}"


def ticket() -> ticket_pb2.SignedTicket:
    return tickets.issue(
        META,
        "index-1",
        holder_public_key=ALICE.public_bytes,
        actions=[PUT],
        chunk_ids=CHUNKS,
        node_ids=["n1"],
        byte_budget=10_000,
        ttl_ms=60_000,
    )


@pytest.mark.integration  # a real gRPC server on loopback
async def test_a_burst_of_transfers_is_one_call_per_node_with_each_ticket_once():
    node = Node()
    server, address = await start(node)
    channels = transfer.Channels(grpc.local_channel_credentials())
    sender = ReceiptSender(ALICE, channels, flush_after_s=0.05)
    t = ticket()
    try:
        for cid in CHUNKS:
            sender.record(t, address, "n1", cid, PUT, 100)
        await asyncio.sleep(0.3)
        assert len(node.calls) == 1
        call = node.calls[0]
        assert len(call.tickets) == 1 and len(call.receipts) == len(CHUNKS)
        for r in call.receipts:  # each signed by the holder, for this node
            body = receipt_pb2.Receipt.FromString(r.receipt)
            assert body.node_id == "n1" and body.bytes == 100
            assert verify(
                ALICE.public_bytes, r.signature, receipts.signed_bytes(t.signature, r.receipt)
            )
        assert sender.sent == len(CHUNKS)
    finally:
        await sender.close()
        await channels.close()
        await server.stop(None)


@pytest.mark.integration
async def test_a_node_that_was_away_gets_the_same_signed_receipts_again():
    node = Node([grpc.StatusCode.UNAVAILABLE])
    server, address = await start(node)
    channels = transfer.Channels(grpc.local_channel_credentials())
    sender = ReceiptSender(ALICE, channels, flush_after_s=0.01)
    try:
        sender.record(ticket(), address, "n1", CHUNKS[0], PUT, 100)
        await sender.flush()
        await sender.flush()
        assert len(node.calls) == 2
        assert list(node.calls[0].receipts) == list(node.calls[1].receipts)  # not re-signed
        assert sender.sent == 1
    finally:
        await sender.close()
        await channels.close()
        await server.stop(None)


@pytest.mark.integration
async def test_a_mesh_without_an_incentive_service_is_sent_no_more_receipts():
    node = Node([grpc.StatusCode.FAILED_PRECONDITION])
    server, address = await start(node)
    channels = transfer.Channels(grpc.local_channel_credentials())
    sender = ReceiptSender(ALICE, channels, flush_after_s=0.01)
    t = ticket()
    try:
        sender.record(t, address, "n1", CHUNKS[0], PUT, 100)
        await sender.flush()
        for cid in CHUNKS[1:]:
            sender.record(t, address, "n1", cid, PUT, 100)
        await sender.close()
        assert len(node.calls) == 1 and sender.sent == 0
    finally:
        await channels.close()
        await server.stop(None)
