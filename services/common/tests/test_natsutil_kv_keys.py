"""kv_keys against a real nats-server: every key written is listed at once, every time — the
guarantee nats-py's own KeyValue.keys() does not give under load."""

from __future__ import annotations

import pytest
from nats.js.errors import KeyDeletedError, KeyNotFoundError

from stratos.common.natsutil import connect, ensure_kv, kv_keys
from stratos.common.testing import nats_server

pytestmark = pytest.mark.integration


async def test_every_key_just_written_is_listed_every_time() -> None:
    with nats_server() as ns:
        nc = await connect(ns.url, name="kv-keys-test")
        try:
            kv = await ensure_kv(nc.jetstream(), "KVKEYS_TEST", replicas=1)
            assert await kv_keys(kv) == []
            written: list[str] = []
            for i in range(60):  # list right after each write, as `stratos ls` after a put does
                key = f"{i:032x}"
                await kv.put(key, b"v")
                written.append(key)
                assert await kv_keys(kv) == sorted(written)
            await kv.delete(written[0])  # a delete marker still names its key...
            assert written[0] in await kv_keys(kv)
            with pytest.raises((KeyDeletedError, KeyNotFoundError)):  # ...reading it: gone
                await kv.get(written[0])
        finally:
            await nc.close()
