"""Proof-of-Traffic figures (issue 13), in this process, against a bound measured in the same run:

- `incentive.receipts_per_s`: what one incentive replica's tally takes in — ReceiptBatch bytes
  as the stream delivers them (512 receipts from one of 100 storage nodes, each ticket covering
  64 chunks), parsed and checked (the holder's ed25519 signature per receipt, the issuer's once
  per ticket), deduplicated and counted — against ed25519 verifications per second on one core
  (`bench.consensus.ed25519_verifies_per_s`); target ratio ≥ 0.5.
- `incentive.tally_100k_receipts_s` and `incentive.settle_s`: an epoch of 100,000 receipts from
  100 nodes and 1,000 payers, tallied, then settled by the ledger (check_tx of the signed
  report on a state with those 100 resource nodes, 1,000 payers with ozone and 4 bonded meta
  nodes). The report's size — and so the ledger's cost — grows with nodes and payers, not
  receipts: `incentive.settle_s_10k` settles the report of a tenth of the receipts from the same
  nodes and payers, for comparison.
"""

from __future__ import annotations

import dataclasses
import random
import time

from bench.consensus import ed25519_verifies_per_s
from bench.results import Figure
from stratos.common import admission, receipts, tickets
from stratos.common.epoch_reports import report_digest
from stratos.common.identity import Identity, address_of
from stratos.consensus.ledger.apply import check_tx
from stratos.consensus.ledger.genesis import Genesis, GenesisNode, GenesisValidator
from stratos.consensus.ledger.state import Params
from stratos.consensus.ledger.tx import build_tx
from stratos.incentive.tally import Tally
from stratos.v1 import auth_pb2, ledger_pb2, receipt_pb2, ticket_pb2

NODES, PAYERS, META = 100, 1_000, 4
BATCH = 512
CHUNKS_PER_TICKET = 64
NOW = 1_700_000_000_000
STOS = 10**9
GET = ticket_pb2.TICKET_ACTION_GET


class _World:
    """Keys, the admission list and signed receipt batches (made once; signing is not timed)."""

    def __init__(self, receipts_total: int, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.admin = Identity.generate()
        self.meta = [Identity.generate() for _ in range(META)]
        self.nodes = [Identity.generate() for _ in range(NODES)]
        self.payers = [Identity.generate() for _ in range(PAYERS)]
        members = [
            admission.Member(f"index-{i}", auth_pb2.MESH_ROLE_META, k.public_bytes)
            for i, k in enumerate(self.meta)
        ] + [
            admission.Member(f"storage-{i}", auth_pb2.MESH_ROLE_STORAGE, k.public_bytes)
            for i, k in enumerate(self.nodes)
        ]
        self.admission = admission.open_list(
            admission.issue(self.admin, "bench", 1, members), self.admin.public_bytes, "bench"
        )
        self.batches: list[bytes] = []
        made = 0
        while made < receipts_total:
            n = rng.randrange(NODES)
            node_id = f"storage-{n}"
            batch = receipt_pb2.ReceiptBatch(node_id=node_id)
            while len(batch.receipts) < BATCH and made < receipts_total:
                payer = self.payers[rng.randrange(PAYERS)]
                chunks = [f"{rng.getrandbits(256):064x}" for _ in range(CHUNKS_PER_TICKET)]
                t = tickets.issue(
                    self.meta[0],
                    "index-0",
                    holder_public_key=payer.public_bytes,
                    actions=[GET],
                    chunk_ids=chunks,
                    node_ids=[node_id],
                    byte_budget=CHUNKS_PER_TICKET * (1 << 20),
                    ttl_ms=600_000,
                    payer=address_of(payer.public_bytes),
                    now=NOW,
                )
                batch.tickets.append(t)
                for cid in chunks[: min(CHUNKS_PER_TICKET, BATCH - len(batch.receipts))]:
                    batch.receipts.append(
                        receipts.sign(
                            payer, t, chunk_id=cid, node_id=node_id, action=GET, nbytes=1 << 20
                        )
                    )
                    made += 1
                    if made >= receipts_total:
                        break
            self.batches.append(batch.SerializeToString())

    def tally(self, batches: list[bytes]) -> tuple[Tally, float]:
        tally = Tally(lambda: self.admission)
        start = time.perf_counter()
        for raw in batches:
            refused = tally.add_receipts(receipt_pb2.ReceiptBatch.FromString(raw), NOW + 1)
            assert not refused, refused[0]
        return tally, time.perf_counter() - start

    def settle_s(self, tally: Tally) -> tuple[float, int]:
        """The ledger's check of this epoch's signed report (seconds), and the tx's size."""
        params = Params(max_report_bytes=16 << 20, max_block_bytes=32 << 20, epoch_blocks=1)
        g = Genesis(
            chain_id="bench",
            genesis_time_unix_ms=NOW,
            accounts=tuple((address_of(k.public_bytes), 10 * STOS) for k in self.meta),
            validators=(GenesisValidator(Identity.generate().public_bytes, 10),),
            params=params,
            nodes=tuple(
                GenesisNode(address_of(k.public_bytes), ledger_pb2.NODE_ROLE_RESOURCE, 1_000 * STOS)
                for k in self.nodes
            )
            + tuple(
                GenesisNode(address_of(k.public_bytes), ledger_pb2.NODE_ROLE_META, 1_000 * STOS)
                for k in self.meta
            ),
            ozone=tuple((address_of(k.public_bytes), 10 * STOS) for k in self.payers),
        )
        state = g.initial_state()
        state = dataclasses.replace(state, height=1)  # epoch 0 (one block) has ended
        report = tally.close(0)
        digest = report_digest("bench", report)
        for k in self.meta:
            report.signatures.add(public_key=k.public_bytes, signature=k.sign(digest))
        raw = build_tx(self.meta[0], chain_id="bench", nonce=0, fee=1_000, epoch_report=report)
        start = time.perf_counter()
        result = check_tx(state, raw)
        took = time.perf_counter() - start
        assert result.code == 0, result.log
        return took, len(raw)


def measure() -> list[Figure]:
    verifies = ed25519_verifies_per_s()
    world = _World(100_000)
    _, took = world.tally(world.batches[:40])  # warm up: imports, caches
    tally, took = world.tally(world.batches)
    rate = 100_000 / took
    settle, size = world.settle_s(tally)
    small_tally, _ = world.tally(world.batches[: len(world.batches) // 10])
    settle_10k, size_10k = world.settle_s(small_tally)
    print(
        f"incentive: {rate:.0f} receipts/s (ed25519 verify {verifies:.0f}/s on one core); "
        f"100k receipts tallied in {took:.2f} s; report of {size} bytes settled in "
        f"{settle:.3f} s (10k receipts: {size_10k} bytes, {settle_10k:.3f} s)"
    )
    return [
        Figure.against("incentive.receipts_per_s", rate, "receipts/s", verifies, "ratio >= 0.5"),
        Figure("incentive.tally_100k_receipts_s", round(took, 3), "s", None, None),
        Figure("incentive.settle_s", round(settle, 4), "s", None, None),
        Figure("incentive.settle_s_10k", round(settle_10k, 4), "s", None, None),
    ]


if __name__ == "__main__":
    for f in measure():
        print(f)
