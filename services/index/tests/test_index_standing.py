"""A node the ledger suspended gets no new chunks; the others still do."""

from __future__ import annotations

from stratos.common.identity import Identity, address_of
from stratos.index.registry import Registry
from stratos.index.standing import Standing
from stratos.v1 import consensus_pb2, events_pb2, ledger_pb2, types_pb2

NOW = 1_700_000_000_000
KEYS = {f"storage-{i}": Identity.generate() for i in (1, 2, 3)}


def registry() -> Registry:
    reg = Registry(6, 30, watching_since_ms=NOW - 60_000)
    for node_id, key in KEYS.items():
        reg.observe(
            events_pb2.Heartbeat(
                node=types_pb2.NodeInfo(
                    node_id=node_id,
                    address="127.0.0.1:1",
                    public_key=key.public_bytes,
                    capacity_bytes=1 << 30,
                ),
                sent_unix_ms=NOW,
            )
        )
    return reg


class Chain:
    def __init__(self, suspended: set[str]) -> None:
        self.suspended = {address_of(KEYS[n].public_bytes) for n in suspended}

    async def account(self, address: str) -> consensus_pb2.GetAccountResponse:
        resp = consensus_pb2.GetAccountResponse()
        resp.node.CopyFrom(
            ledger_pb2.NodeRecord(address=address, suspended=address in self.suspended)
        )
        return resp


async def test_a_suspended_node_is_no_candidate_until_the_ledger_lifts_it() -> None:
    reg = registry()
    assert [c.node_id for c in reg.candidates(NOW)] == ["storage-1", "storage-2", "storage-3"]
    await Standing(Chain({"storage-2"}), reg).refresh()
    assert reg.suspended == {"storage-2"}
    assert [c.node_id for c in reg.candidates(NOW)] == ["storage-1", "storage-3"]
    assert len(reg.statuses(NOW)) == 3  # still listed, still serving what it holds
    await Standing(Chain(set()), reg).refresh()
    assert [c.node_id for c in reg.candidates(NOW)] == ["storage-1", "storage-2", "storage-3"]
