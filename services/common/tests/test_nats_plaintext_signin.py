"""A process never signs a NATS server's nonce over plaintext: something in the middle that
answers as a server without TLS, offering the real server's nonce, gets no signature to relay."""

from __future__ import annotations

import asyncio
import json

import nkeys
import pytest

from stratos.common.errors import Unavailable
from stratos.common.nats_credentials import NatsCredentials, NatsLogin
from stratos.common.natsutil import connect

pytestmark = pytest.mark.attack


async def test_a_plaintext_server_asking_for_a_signature_gets_none() -> None:
    heard: list[bytes] = []

    async def pose_as_nats(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        info = {"server_id": "mitm", "version": "2.10.0", "proto": 1, "max_payload": 1 << 20}
        info |= {"nonce": "relayed-from-the-real-server", "headers": True}  # no tls_required
        writer.write(b"INFO " + json.dumps(info).encode() + b"\r\n")
        await writer.drain()
        try:
            while line := await asyncio.wait_for(reader.readline(), 5):
                heard.append(line)
                if line.startswith(b"PING"):
                    writer.write(b"PONG\r\n")
                    await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(pose_as_nats, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    user = nkeys.from_seed(nkeys.encode_seed(b"\x01" * 32, nkeys.PREFIX_BYTE_USER))
    login = NatsLogin(
        NatsCredentials("storage.s1", user.seed.decode(), user.public_key.decode(), "test")
    )
    async with server:
        with pytest.raises(Unavailable):
            await connect(f"nats://127.0.0.1:{port}", name="victim", login=login,
                          connect_deadline_s=3)  # fmt: skip
    assert not any(b'"sig"' in line for line in heard), heard
    assert not any(line.startswith(b"CONNECT") for line in heard), heard
