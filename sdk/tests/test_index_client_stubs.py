"""The index client makes one stub per channel, and a new one when the channel is replaced."""

from __future__ import annotations

import grpc

from stratos.sdk import transfer


async def test_a_stub_is_made_once_per_channel_and_again_after_the_channel_is_forgotten():
    channels = transfer.Channels(grpc.local_channel_credentials())
    client = transfer.IndexClient(["127.0.0.1:1"], channels)
    try:
        first = client._stub("127.0.0.1:1")
        assert client._stub("127.0.0.1:1") is first
        channels.forget("127.0.0.1:1")  # as a broken connection is dropped
        again = client._stub("127.0.0.1:1")
        assert again is not first
        assert client._stub("127.0.0.1:1") is again
    finally:
        await channels.close()
