"""A connect that gives up leaves no socket open: an unclosed transport is reported wherever the
garbage collector happens to run, and failed an unrelated test in CI."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from stratos.common import natsutil
from stratos.common.errors import Unavailable

pytestmark = pytest.mark.integration  # a real listener on loopback


async def test_a_server_that_never_answers_leaves_no_socket_behind():
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader, writer):  # accepts TCP, never sends NATS's INFO
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(Unavailable, match="cannot connect to NATS"):
            await natsutil.connect(f"nats://127.0.0.1:{port}", name="t", connect_deadline_s=3)
        assert accepted  # it did get as far as a socket
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
            await asyncio.sleep(0)
        leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
        assert not leaks, [str(w.message) for w in leaks]
    finally:
        for w in accepted:
            w.close()
        server.close()
        await server.wait_closed()
